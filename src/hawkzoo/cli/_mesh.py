"""The commands' mesh flags: `--mesh` and `--cpu-devices`."""

import argparse

import jax
from jax.sharding import Mesh

from ..errors import InputError
from ..sharding import AXES, make_mesh


def add_flags(parser: argparse.ArgumentParser, axes: tuple[str, ...] = AXES) -> None:
    parser.add_argument(
        "--mesh",
        metavar="AXIS=SIZE,...",
        help=f"run on a device mesh, e.g. {','.join(f'{axis}=2' for axis in axes)} (axes "
        f"{', '.join(axes)}; the sizes multiply to the number of devices)",
    )
    parser.add_argument(
        "--cpu-devices",
        type=int,
        metavar="N",
        help="split the CPU into N devices (to try a mesh on one machine)",
    )


def mesh_from(args: argparse.Namespace, axes: tuple[str, ...] = AXES) -> Mesh | None:
    """The mesh the flags ask for, on the CPU's devices with `--cpu-devices`; one is
    needed with several processes."""
    devices = None
    if args.cpu_devices is not None:
        if args.cpu_devices < 1:
            raise InputError(f"--cpu-devices must be positive, got {args.cpu_devices}")
        if jax.config.jax_num_cpu_devices != args.cpu_devices:
            try:
                jax.config.update("jax_num_cpu_devices", args.cpu_devices)
            except RuntimeError:
                raise InputError(
                    f"--cpu-devices {args.cpu_devices}: JAX has started with "
                    f"{len(jax.devices('cpu'))} CPU devices already"
                ) from None
        devices = jax.devices("cpu")
    if args.mesh is None:
        if jax.process_count() > 1:
            raise InputError(
                "several processes run on one mesh over all their devices: give --mesh"
            )
        return None
    mesh = make_mesh(args.mesh, devices)
    unused = sorted(set(mesh.axis_names) - set(axes))
    if unused:
        raise InputError(f"--mesh: this command splits over {', '.join(axes)}, not {unused[0]}")
    return mesh
