#!/usr/bin/env python3
"""How far off the puck's line the pusher comes down, per push episode of a collected dataset.

Usage: scripts/push-contact.py DATASET [DATASET ...]

For every push episode (DATASET/episodes/push/<camera>/<seed>/episode.json, recorded by
`videoagent collect`; the landmarks give the puck and the spot) it finds the first step where the
pusher is low (z < 3 cm) and within 6.5 cm of the puck's centre, and measures the pusher's distance
from the line through the puck's starting place and the spot. The puck leaves along the line from
the pusher through its centre, so millimetres off that line become centimetres off at the spot.
Prints the median offset of successful and failed episodes per dataset.
"""
import glob
import json
import math
import os
import statistics
import sys


def contact_offset(episode):
    landmarks, hand = episode["landmarks"], episode["proprioception"]
    px, py, tx, ty = landmarks[0][0], landmarks[0][1], landmarks[0][3], landmarks[0][4]
    length = math.hypot(tx - px, ty - py)
    dx, dy = (tx - px) / length, (ty - py) / length
    for t, (x, y, z, _) in enumerate(hand):
        if z < 0.03 and math.hypot(x - landmarks[t][0], y - landmarks[t][1]) < 0.065:
            return abs((x - px) * dy - (y - py) * dx)
    return None


def main(directories):
    if not directories:
        sys.exit(__doc__.strip().splitlines()[2])
    for directory in directories:
        files = sorted(glob.glob(os.path.join(directory, "episodes", "push", "*", "*", "episode.json")))
        if not files:
            sys.exit(f"{directory}: no push episodes (collect some with videoagent collect --tasks push)")
        rows = []
        for path in files:
            with open(path) as f:
                episode = json.load(f)
            if not episode.get("landmarks"):
                sys.exit(f"{path} records no landmarks: collect it again with this version of videoagent")
            rows.append((episode["success"], contact_offset(episode)))
        print(f"{directory}: {len(rows)} push episodes, {sum(ok for ok, _ in rows)} succeeded")
        for ok, name in ((True, "succeeded"), (False, "failed")):
            offsets = [o for s, o in rows if s == ok and o is not None]
            missed = sum(1 for s, o in rows if s == ok and o is None)
            if offsets:
                print(f"  {name}: median offset {1000 * statistics.median(offsets):.1f} mm over {len(offsets)} episodes, "
                      f"over 10 mm in {sum(o > 0.01 for o in offsets)}; {missed} never came down at the puck")
            elif missed:
                print(f"  {name}: {missed} never came down at the puck")


if __name__ == "__main__":
    main(sys.argv[1:])
