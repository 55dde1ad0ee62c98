"""Frame-level dev-split AUCs during and after training: a quick check that the model separates the classes.

Three scores, all "higher = attack" (physstd.eval.scoring, Eq. 10 with consistent signs):
  depth      -mean(M)                         nothing fitted (alpha0 = 0)
  trace      mean(|B| + |C| + |T| + |P|)       the trace magnitude alone
  eq10       alpha0 * trace - mean(M)         alpha0 chosen on these same dev frames (optimistic; the proper
                                              protocol evaluation with a threshold from dev is run_test.py)
"""
import numpy as np

from physstd.eval import metrics, scoring

AUC_NAMES = ("depth", "trace", "eq10")


def select_videos(video_ids, labels, max_videos):
    """At most max_videos ids, split live/spoof in proportion and evenly spaced within each (deterministic)."""
    video_ids, labels = np.asarray(video_ids), np.asarray(labels)
    if not max_videos or max_videos >= len(video_ids):
        return list(video_ids)
    chosen = []
    for label in (0, 1):
        members = video_ids[labels == label]
        take = max(1, int(round(max_videos * len(members) / len(video_ids))))
        take = min(take, len(members))
        chosen += list(members[np.linspace(0, len(members) - 1, take).round().astype(int)])
    return sorted(chosen, key=list(video_ids).index)


def frame_statistics_of(predict, dataset):
    """(labels, trace_magnitude, depth_mean) over every frame of an eval dataset (predict: images -> output)."""
    labels, traces, depths = [], [], []
    for batch in dataset:
        out = predict(batch["image"])
        trace_magnitude, depth_mean = scoring.frame_statistics(out.B.numpy(), out.C.numpy(), out.T.numpy(),
                                                               out.P.numpy(), out.M.numpy())
        labels.append(batch["label"].numpy())
        traces.append(trace_magnitude)
        depths.append(depth_mean)
    return np.concatenate(labels), np.concatenate(traces), np.concatenate(depths)


def dev_aucs(labels, trace_magnitude, depth_mean):
    """{'depth', 'trace', 'eq10', 'alpha0', 'frames'}: frame-level AUCs of the three scores (module doc)."""
    alpha0 = scoring.choose_alpha0(labels, trace_magnitude, depth_mean)
    return {
        "depth": metrics.auc(labels, scoring.spoof_score(trace_magnitude, depth_mean, 0.0)),
        "trace": metrics.auc(labels, trace_magnitude),
        "eq10": metrics.auc(labels, scoring.spoof_score(trace_magnitude, depth_mean, alpha0)),
        "alpha0": alpha0,
        "frames": int(len(labels)),
    }
