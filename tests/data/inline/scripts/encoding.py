#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# /// script
# dependencies = [
#   "numpy<3",
# ]
# ///
"""Moyenne des températures (°C)."""
import numpy as np

print(np.mean([12.5, 14.0, 9.75]))
