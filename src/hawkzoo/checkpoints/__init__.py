"""Checkpoints: conversion from and to the official parameter layouts."""

from ._flax import config_from_flax as config_from_flax, from_flax as from_flax, to_flax as to_flax
