"""Frame-level dev-split AUCs during and after training: a quick check that the model separates the classes.

The scores are the method's dev_scores (physstd.methods.base), each "higher = attack", with the method's score
parameters fitted on these same dev frames (optimistic; the proper protocol evaluation, with a threshold from dev,
is run_test.py). PhySTD's (physstd.methods.physstd.score, Eq. 10 with consistent signs):
  depth      -mean(M)                         nothing fitted (alpha0 = 0)
  trace      mean(|B| + |C| + |T| + |P|)       the trace magnitude alone
  eq10       alpha0 * trace - mean(M)         alpha0 fitted on these frames
"""
import numpy as np

from physstd.eval import metrics


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


def frame_terms_of(method, predict, dataset):
    """(labels, {score term: values}) over every frame of an eval dataset (predict: the trainer's inputs -> output,
    given method.inference_inputs of each batch; method.prediction_terms turns its output into the score terms)."""
    labels, terms = [], {}
    for batch in dataset:
        for term, values in method.prediction_terms(predict(method.inference_inputs(batch))).items():
            terms.setdefault(term, []).append(np.asarray(values, np.float64))
        labels.append(batch["label"].numpy())
    return np.concatenate(labels), {term: np.concatenate(values) for term, values in terms.items()}


def dev_aucs(method, labels, terms):
    """({name: frame-level AUC} of the method's dev_scores, {fitted score parameters}) (module doc)."""
    params = method.fit_score(labels, terms)
    aucs = {name: metrics.auc(labels, scores) for name, scores in method.dev_scores(terms, params).items()}
    return aucs, params
