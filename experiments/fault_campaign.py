"""Fault campaign against run_train.py: SIGKILLs, SIGTERM / SIGINT stops (half of them with a second signal during
the stop save), and a disk that refuses writes, all on one run directory that is resumed after every fault.

    .venv/bin/python experiments/fault_campaign.py --kills=10 --signals=6 [--workdir=DIR] [--seed=0]

Prints, for the whole campaign: kills survived / tried (the next start resumed from the newest listed checkpoint),
the most steps a kill lost (last logged step - step resumed at; at most --checkpoint_every), corrupt listed
checkpoints (unreadable, or a step variable other than the name), leftovers (files the manager does not list)
after the startup cleanup, signal stops with the right status and a checkpoint named after the last logged step,
and the disk-full check (status 74, one `error:` line, listed checkpoints untouched). The default data is a toy
prepared set (physstd.data.toy) at N = 32 so that a campaign takes minutes on a CPU; --train_flags adds
flags to every run (later flags win: --train_flags="--steps=123" runs the full Alg. 1 step, slower to start).
"""
import argparse
import os
import random
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

STEP_LINE = re.compile(r"^step (\d+)/\d+ \|")
RESUMED = re.compile(r"^resumed from .*ckpt-(\d+) at step (\d+);")
REMOVED = re.compile(r"^removed what interrupted saves left in \S+: (.*)$")
SIGNAL_STATUS = {signal.SIGTERM: 143, signal.SIGINT: 130}


def _env():
    return dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")


class Run:
    """One run_train.py process whose stdout is read line by line."""

    def __init__(self, command, preexec_fn=None):
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=_env(), preexec_fn=preexec_fn)
        self.lines, self.steps, self.resumed_at, self.removed = [], [], 0, []

    def read_until(self, predicate, timeout=600):
        """Read stdout until a line satisfies predicate (True) or the process ends (False)."""
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            self._note(line.rstrip("\n"))
            if predicate(self.lines[-1]):
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"no expected line within {timeout} s; last: {self.lines[-3:]}")
        return False

    def finish(self, timeout=600):
        """Read the rest of stdout and wait; returns (status, stderr)."""
        for line in self.process.stdout:
            self._note(line.rstrip("\n"))
        status = self.process.wait(timeout=timeout)
        return status, self.process.stderr.read()

    def _note(self, line):
        self.lines.append(line)
        if STEP_LINE.match(line):
            self.steps.append(int(STEP_LINE.match(line).group(1)))
        elif RESUMED.match(line):
            self.resumed_at = int(RESUMED.match(line).group(2))
        elif REMOVED.match(line):
            self.removed += REMOVED.match(line).group(1).split(", ")


def checkpoint_report(run_dir):
    """(listed names, corrupt names, leftover names) of the run's checkpoint folder."""
    import tensorflow as tf

    directory = os.path.join(run_dir, "checkpoints")
    state = tf.train.get_checkpoint_state(directory)
    listed = [os.path.basename(p) for p in state.all_model_checkpoint_paths] if state else []
    corrupt = []
    for name in listed:
        try:
            step = int(tf.train.load_checkpoint(os.path.join(directory, name)).get_tensor(
                "step/.ATTRIBUTES/VARIABLE_VALUE"))
            if step != int(name.split("-")[1]):
                corrupt.append(name)
        except Exception:  # any way of being unreadable counts
            corrupt.append(name)
    own = {"checkpoint"} | {f"{n}{s}" for n in listed for s in (".index", ".data-00000-of-00001")}
    leftovers = sorted(set(os.listdir(directory)) - own) if os.path.isdir(directory) else []
    return listed, corrupt, leftovers


def newest_step(run_dir):
    listed = checkpoint_report(run_dir)[0]
    return int(listed[-1].split("-")[1]) if listed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--signals", type=int, default=6)
    parser.add_argument("--checkpoint_every", type=int, default=5)
    parser.add_argument("--max_kill_delay", type=float, default=3.0, help="a kill comes 0..this s after the "
                        "first progress line")
    parser.add_argument("--workdir", default="", help="default: a new temporary folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train_flags", default="", help="more run_train.py flags for every run")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = args.workdir or tempfile.mkdtemp(prefix="physstd-faults-")
    run_dir = os.path.join(workdir, "run")
    data_root = os.path.join(workdir, "toy")
    if not os.path.isdir(data_root):
        from physstd.data.toy import write_toy_dataset

        write_toy_dataset(data_root, 32, videos_per_class=2, frames_per_video=2)

    def command(num_steps=100000, checkpoint_every=args.checkpoint_every):
        return [sys.executable, "run_train.py", f"--data_root={data_root}", "--protocol=toy", f"--run_dir={run_dir}",
                "--image_size=32", "--width=0.125", "--batch_size=4", "--steps=1", f"--num_steps={num_steps}",
                f"--checkpoint_every={checkpoint_every}", "--log_every=1", "--summary_every=1",
                "--image_summary_every=0", "--eval_max_videos=2", *shlex.split(args.train_flags)]

    events = ["kill"] * args.kills + ["signal"] * args.signals
    rng.shuffle(events)
    survived = lost_max = signals_ok = corrupt_total = 0
    left_by_faults = leftovers = 0
    previous_last_logged, killed = None, False
    for index, event in enumerate(events):
        expected_resume, pending = newest_step(run_dir), checkpoint_report(run_dir)[2]
        run = Run(command())
        started = run.read_until(lambda line: bool(STEP_LINE.match(line)))
        left_by_faults += len(pending)
        leftovers += len(set(pending) - set(run.removed))  # what the startup cleanup missed
        if killed:  # the previous event was a kill: did this start resume from the newest listed checkpoint?
            if started and run.resumed_at == expected_resume:
                survived += 1
                lost_max = max(lost_max, previous_last_logged - run.resumed_at)
        if event == "kill":
            time.sleep(rng.uniform(0.0, args.max_kill_delay))
            run.process.send_signal(signal.SIGKILL)
            run.finish()
            killed, previous_last_logged = True, max(run.steps) if run.steps else run.resumed_at
            outcome = f"SIGKILL after step {previous_last_logged}"
        else:
            first = rng.choice([signal.SIGTERM, signal.SIGINT])
            run.read_until(lambda line, k=rng.randint(1, 20): len(run.steps) >= k)
            run.process.send_signal(first)
            second = rng.random() < 0.5
            if second:  # a second signal while the stop checkpoint is being saved
                run.read_until(lambda line: "stopping after step" in line)
                run.process.send_signal(signal.SIGTERM)
            status, stderr = run.finish()
            last = max(run.steps)
            ok = (status == SIGNAL_STATUS[first] and "Traceback" not in stderr
                  and checkpoint_report(run_dir)[0][-1] == f"ckpt-{last}")
            signals_ok += ok
            killed = False
            outcome = (f"{first.name}{' + SIGTERM during the save' if second else ''}: status {status}, "
                       f"newest {checkpoint_report(run_dir)[0][-1]}, last logged step {last}"
                       f"{'' if ok else '  <-- WRONG'}")
        listed, corrupt, _ = checkpoint_report(run_dir)
        corrupt_total += len(corrupt)
        print(f"[{index + 1:2d}/{len(events)}] resumed at {run.resumed_at}, {outcome}; listed {listed}"
              f"{'; CORRUPT ' + str(corrupt) if corrupt else ''}", flush=True)

    # The disk refuses a checkpoint-sized file; then a last run completes.
    expected_resume, before = newest_step(run_dir), checkpoint_report(run_dir)[0]
    data_file = os.path.join(run_dir, "checkpoints", f"{before[-1]}.data-00000-of-00001")
    limit = os.path.getsize(data_file) // 2
    run = Run(command(checkpoint_every=1), lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    status, stderr = run.finish()
    if killed:
        survived += run.resumed_at == expected_resume and bool(run.steps)
        lost_max = max(lost_max, previous_last_logged - run.resumed_at)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    listed, corrupt, after_disk = checkpoint_report(run_dir)
    disk_ok = status == 74 and len(errors) == 1 and "Traceback" not in stderr and listed == before and not corrupt \
        and not after_disk
    print(f"disk full: status {status}; {errors[0] if errors else 'no error line'}", flush=True)
    final = Run(command(num_steps=newest_step(run_dir) + 2))
    status, _ = final.finish()
    listed, corrupt, at_end = checkpoint_report(run_dir)
    corrupt_total += len(corrupt)
    print()
    print(f"kills survived / tried:                    {survived} / {args.kills}")
    print(f"most steps lost by a kill:                 {lost_max} (checkpoint_every {args.checkpoint_every})")
    print(f"corrupt listed checkpoints:                {corrupt_total}")
    print(f"leftovers after a start's cleanup:         {leftovers} (faults left {left_by_faults} unlisted files; "
          f"at the end: {len(at_end)})")
    print(f"signal stops correctly named, status right: {signals_ok} / {args.signals}")
    print(f"disk full (status 74, one error, intact):  {'yes' if disk_ok else 'NO'}")
    print(f"final run completed:                       {'yes' if status == 0 else f'NO (status {status})'}")
    print(f"run directory: {run_dir}")


if __name__ == "__main__":
    main()
