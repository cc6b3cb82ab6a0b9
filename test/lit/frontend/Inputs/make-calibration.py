"""Writes a MIXQCAL v1 calibration file (quant/CalibrationStats.h).

usage: make-calibration.py OUT NAME:CHANNELS[:HOT] ...
Channels [0, HOT) get E[x^2] = 100 and max|x| = 30, the others 1 and 3.
"""
import struct
import sys

out = sys.argv[1]
records = []
for spec in sys.argv[2:]:
    parts = spec.split(":")
    name, channels = parts[0], int(parts[1])
    hot = int(parts[2]) if len(parts) > 2 else 8
    mean_square = [100.0 if c < hot else 1.0 for c in range(channels)]
    max_abs = [30.0 if c < hot else 3.0 for c in range(channels)]
    records.append((name.encode(), channels, mean_square, max_abs))
records.sort()
data = b"MIXQCAL\0" + struct.pack("<II", 1, len(records))
for name, channels, mean_square, max_abs in records:
    data += struct.pack("<I", len(name)) + name
    data += struct.pack("<QI", 1024, channels)
    data += struct.pack("<%df" % channels, *mean_square)
    data += struct.pack("<%df" % channels, *max_abs)
with open(out, "wb") as f:
    f.write(data)
