"""MetaWorld behind VideoAgent's environment protocol (docs/environment-protocol.md).

Serves one client over standard input/output (the default; VideoAgent starts it as a child
process) or over TCP (--tcp HOST:PORT; one client at a time). Requires PyPI `metaworld` 3.x with
MuJoCo 3, rendering offscreen through OSMesa (MUJOCO_GL=osmesa is set here when unset).
"""
import argparse
import json
import os
import socket
import struct
import sys
import warnings

os.environ.setdefault("MUJOCO_GL", "osmesa")
warnings.filterwarnings("ignore")

import gymnasium as gym  # noqa: E402
import metaworld  # noqa: E402,F401  (registers the Meta-World/* environments)
import metaworld.policies as policies  # noqa: E402
import numpy as np  # noqa: E402

PROTOCOL = 1
# The paper's 11 tasks: name, instruction, hard (AVDC's base success on them is lowest).
TASKS = [
    ("door-open", "open the door", False),
    ("door-close", "close the door", False),
    ("basketball", "put the ball into the hoop", True),
    ("shelf-place", "place the puck on the shelf", True),
    ("button-press", "press the button", False),
    ("button-press-topdown", "press the button from the top", False),
    ("faucet-close", "turn the faucet to close it", False),
    ("faucet-open", "turn the faucet to open it", False),
    ("handle-press", "press the handle down", False),
    ("hammer", "hammer the nail into the wall", True),
    ("assembly", "put the ring onto the peg", True),
]
CAMERAS = ["corner", "corner2", "corner3"]
MAX_STEPS = 500


def policy_for(task):
    name = "Sawyer" + "".join(part.capitalize() for part in task.split("-")) + "V3Policy"
    return getattr(policies, name)()


class Session:
    def __init__(self):
        self.env = None
        self.policy = None
        self.obs = None
        self.steps = 0
        self.resolution = 64

    def frame(self):
        image = self.env.render()
        # MuJoCo's offscreen buffer is bottom-up: flip to get an upright picture.
        image = np.ascontiguousarray(image[::-1])
        return image.astype(np.uint8).tobytes()

    def proprioception(self):
        return [float(v) for v in self.obs[:4]]

    def handle(self, request):
        op = request.get("op")
        if op == "hello":
            return {"ok": True, "protocol": PROTOCOL, "environment": "metaworld", "max_steps": MAX_STEPS,
                    "tasks": [{"name": n, "instruction": i, "is_hard": h} for n, i, h in TASKS],
                    "cameras": CAMERAS}, b""
        if op == "reset":
            task, camera = request["task"], request["camera"]
            seed, resolution = int(request["seed"]), int(request["resolution"])
            if task not in [t[0] for t in TASKS]:
                return {"ok": False, "error": f"unknown task {task!r}"}, b""
            if camera not in CAMERAS:
                return {"ok": False, "error": f"unknown camera {camera!r}"}, b""
            if self.env is not None:
                self.env.close()
            # A fresh environment made with the seed gives the same episode for the same seed.
            self.env = gym.make("Meta-World/MT1", env_name=f"{task}-v3", seed=seed, render_mode="rgb_array",
                                camera_name=camera, width=resolution, height=resolution)
            self.obs, _ = self.env.reset(seed=seed)
            self.policy = policy_for(task)
            self.steps = 0
            self.resolution = resolution
            return {"ok": True, "proprioception": self.proprioception(), "width": resolution, "height": resolution}, self.frame()
        if self.env is None:
            return {"ok": False, "error": "reset first"}, b""
        if op == "step":
            action = np.asarray(request["action"], dtype=np.float64)
            if action.shape != (4,) or not np.all(np.isfinite(action)) or np.any(np.abs(action) > 1):
                return {"ok": False, "error": f"action must be 4 values in [-1, 1], got {request['action']!r}"}, b""
            self.obs, _, terminated, truncated, info = self.env.step(action)
            self.steps += 1
            success = bool(info.get("success", 0.0) > 0.5)
            reply = {"ok": True, "proprioception": self.proprioception(), "success": success,
                     "terminated": bool(terminated) or success, "truncated": bool(truncated) or self.steps >= MAX_STEPS}
            if request.get("frame", True) is False:
                # The client will not look at this frame: skip the render, the step's dearest part.
                return {**reply, "rendered": False, "width": 0, "height": 0}, b""
            return {**reply, "rendered": True, "width": self.resolution, "height": self.resolution}, self.frame()
        if op == "render":
            return {"ok": True, "proprioception": self.proprioception(), "width": self.resolution,
                    "height": self.resolution}, self.frame()
        if op == "expert":
            action = np.clip(self.policy.get_action(self.obs), -1, 1)
            return {"ok": True, "action": [float(v) for v in action]}, b""
        return {"ok": False, "error": f"unknown op {op!r}"}, b""


def read_exact(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(reader, writer):
    session = Session()
    while True:
        prefix = read_exact(reader, 4)
        if prefix is None:
            return
        header = json.loads(read_exact(reader, struct.unpack("<I", prefix)[0]))
        body_length = struct.unpack("<I", read_exact(reader, 4))[0]
        if body_length:
            read_exact(reader, body_length)
        if header.get("op") == "close":
            write(writer, {"ok": True}, b"")
            return
        try:
            reply, body = session.handle(header)
        except Exception as error:  # report, keep serving
            reply, body = {"ok": False, "error": f"{type(error).__name__}: {error}"}, b""
        write(writer, reply, body)


def write(writer, header, body):
    encoded = json.dumps(header).encode()
    writer.write(struct.pack("<I", len(encoded)) + encoded + struct.pack("<I", len(body)) + body)
    writer.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tcp", help="serve on HOST:PORT instead of standard input/output")
    args = parser.parse_args()
    if args.tcp:
        host, port = args.tcp.rsplit(":", 1)
        with socket.create_server((host, int(port))) as server:
            print(f"listening on {host}:{server.getsockname()[1]}", file=sys.stderr, flush=True)
            while True:
                connection, _ = server.accept()
                with connection, connection.makefile("rb") as reader, connection.makefile("wb") as writer:
                    serve(reader, writer)
    else:
        # Anything MetaWorld prints must not corrupt the protocol on stdout.
        protocol_out = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        serve(sys.stdin.buffer, protocol_out)


if __name__ == "__main__":
    main()
