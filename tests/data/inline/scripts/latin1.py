#!/usr/bin/env python3
# -*- coding: latin-1 -*-
# /// script
# dependencies = ["rich"]
# ///
print("café")
