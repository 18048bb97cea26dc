#!/usr/bin/env bash
# The device check, for a GPU machine with JAX and its CUDA plugin preinstalled and no
# network, run from the repository root:
#
#     benchmarks/device_check.sh OUT [WHEELS]
#
# WHEELS, if given, is a folder of wheels to install first without the network (hawkzoo's
# own, and beartype, pytest-xdist, execnet and recurrentgemma, which the machine lacks:
# `benchmarks/device_wheels.sh WHEELS` gathers them). Each piece runs
# under its own time limit (8 minutes in all) and writes into OUT; one failing does
# not stop the next. OUT/summary.txt has each piece's exit status and wall time.
# DEVICE_CHECK_SMOKE=1 runs every piece at CPU sizes, Hawk alone (the test suite does).
set -uo pipefail
out=${1:?usage: benchmarks/device_check.sh OUT [WHEELS]}
wheels=${2:-}
python=${PYTHON:-python}
mkdir -p "$out"
: >"$out/summary.txt"

if [[ ${DEVICE_CHECK_SMOKE:-0} == 1 ]]; then  # one backend, one tiny shape, a few tests
    models=(--model tiny-hawk) scan_sizes=(smoke) repetitions=1
    doctor=(--backend sequential) tests=(tests/backends/test_doctor.py -k cache -n 0)
    model_backends=(--backend sequential) slack=3  # a shared CPU: thrice the time
else
    models=(--model hawk-100m --model griffin-100m) scan_sizes=(device sweep) repetitions=7
    doctor=() tests=(tests/backends -k pallas_gpu -n 4)
    model_backends=(--backend chunked --backend pallas_gpu --backend pallas_tpu) slack=1
fi

piece() {  # piece NAME SECONDS COMMAND...: run it, its output in OUT/NAME.log
    local name=$1 limit=$2 start=$SECONDS status
    shift 2
    echo "--- ${name}"
    timeout "$((limit * slack))" "$@" >"$out/${name}.log" 2>&1
    status=$?
    echo "${name}: exit ${status} in $((SECONDS - start)) s" | tee -a "$out/summary.txt"
}

if [[ -n $wheels ]]; then
    PIP_BREAK_SYSTEM_PACKAGES=1 piece install 30 "$python" -m pip install --no-index --no-deps \
        "$wheels"/*.whl
fi
piece environment 20 "$python" -c "import jax, hawkzoo; print(jax.__version__, \
hawkzoo.__version__, jax.devices())"
# A process of its own per piece: none preallocates the GPU's memory for the others.
export XLA_PYTHON_CLIENT_PREALLOCATE=false HAWKZOO_DOCTOR_CACHE="$out/doctor-cache.json"
piece doctor 100 "$python" -m hawkzoo.cli doctor "${doctor[@]}" --repetitions "$repetitions" \
    --json "$out/doctor.json"
piece kernel-tests 120 "$python" -m pytest -q "${tests[@]}"
for size in "${scan_sizes[@]}"; do
    piece "scan-${size}" 60 "$python" benchmarks/scan.py --size "$size" \
        --repetitions "$repetitions" --out "$out"
done
# The training step and decoding of Hawk and Griffin, with the best pure-JAX backend and
# each kernel that runs here.
piece models 90 "$python" -m hawkzoo.cli doctor --no-timing "${model_backends[@]}" \
    "${models[@]}" --json "$out/models.json"
echo "--- wrote ${out}"
