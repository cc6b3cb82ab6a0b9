"""Checks that calibration changed exactly the calibrated weights' errors.

usage: compare-reports.py PLAIN.json CALIBRATED.json NAME...
"""
import json
import sys

plain = {w["name"]: w for w in json.load(open(sys.argv[1]))["weights"]}
calibrated = {w["name"]: w for w in json.load(open(sys.argv[2]))["weights"]}
changed = set(sys.argv[3:])
for name, w in plain.items():
    differs = w["relative_error"] != calibrated[name]["relative_error"]
    if differs != (name in changed):
        sys.exit("%s: rel_error %s -> %s (expected %s)" % (
            name, w["relative_error"], calibrated[name]["relative_error"],
            "a change" if name in changed else "no change"))
print("calibration changed exactly: " + " ".join(sorted(changed)))
