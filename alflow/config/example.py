"""The commented example campaign file that `alflow init NAME` writes."""

from __future__ import annotations

EXAMPLE = """\
# alflow campaign file. Relative paths are resolved against this file's folder.
campaign: {name}                 # lowercase letters, digits and dashes

pool:                            # unlabeled items: a CSV or Parquet file, or a folder / s3:// prefix of files
  uri: data/pool.csv
  id_column: id
  # feature_columns: [f0, f1]    # numeric features; omit to use every column but the id
  # text_column: text            # or one text column, with the tfidf_logistic_regression preset
  # vector_column: embedding     # or your own embeddings (Parquet list<float>): the model's features
  # reference_column: image_uri  # s3:// or local URI of each image/scan/document: the vendor's source-ref
  # embedder: all-MiniLM-L6-v2   # or embed text_column offline (make embeddings), with logistic_regression
  chunk_size: 50000              # rows scored at a time: memory does not grow with the pool

seed_labels:                     # labels you already have: the id column and a label column
  uri: data/seed.csv
  label_column: label

# holdout:                       # optional labeled items kept out of the pool, with features;
#   uri: data/holdout.csv        # without it the metric is a cross-validated estimate
#   label_column: label

classes: [negative, positive]    # the class set (omit it with labels.kind: number)

# labels:                        # what the annotator gives each item (docs/LABELS.md); one class by default
#   kind: class                  # class: one of classes | multi: several (tags) | number: a decimal number
#   allow_empty: false           # multi: an item may get no tag at all (spelled [])
#   min: 0                       # number: the smallest value accepted
#   max: 10                      # number: the largest value accepted
#   unit: points                 # number: shown to the annotator and in reports
#   input: number                # number: number | rating (label_studio's stars, 1 to max)

model:
  # preset: logistic_regression  # the default: logistic_regression | random_forest | tfidf_logistic_regression
                                 # (labels.kind number: ridge, the default, | random_forest | tfidf_ridge)
  # estimator: sklearn.svm.SVC   # or any classifier by import path (instead of preset)
  params: {{}}                    # keyword arguments for the preset's classifier or the estimator

strategy:
  name: auto                     # auto | margin | least_confident | entropy | random | combined | typiclust
                                 # | kcenter | kmeans | density | egl | qbc_vote_entropy | qbc_kl
                                 # (multi: auto | binary_minimum | max_loss | mean_max_loss | min_confidence
                                 #  | avg_confidence; number: auto | committee_variance | igs | gsx; both:
                                 #  random | kcenter | kmeans | typiclust)
  batch_size: 20                 # items sent to the vendor per round
  # oversample: 10               # combined: top batch_size * 10 by margin, then batch_size diverse ones
  # class_balance: false         # favour items predicted for under-represented classes
  # cost_aware: false            # divide scores by the expected seconds to label (tools' time fields)
  # synthetic: 0                 # of each batch, items synthesized on the decision boundary (numeric features)

budget:
  max_labels: 500                # seed labels included
  # cost_per_label: 0.08
  # currency: USD

stopping:                        # the budget always stops the campaign; these may stop it sooner
  # metric: accuracy             # the default; accuracy | f1_macro
                                 # (multi: f1_macro, its default, | f1_micro | subset_accuracy; number: r2)
  # target: 0.95                 # stop when the metric reaches this
  # patience: 3                  # stop after this many rounds without improvement
  min_delta: 0.0

# auto_label:                    # the model labels the items it is sure of; off without this section
#   target_accuracy: 0.98        # held-out accuracy the auto-labels must reach (sets the threshold)
#   min_calibration_items: 30
#   max_per_round: 1000

# cluster:                       # score the pool on a Dask cluster (pip install 'alflow[dask]'); same batch
#   address: tcp://scheduler:8786

vendor:
  bucket: bucket                 # a folder, or s3://bucket/prefix (credentials: the AWS chain, never here)
  format: csv                    # csv | jsonl | ground_truth | label_studio | labelbox | doccano (docs/VENDORS.md)
  # sse: AES256                  # none | AES256 | aws:kms (with kms_key_id)
  # annotators: 1                # votes per item in a delivery file; majority vote
  # tie_rule: outstanding        # outstanding | class_order (tags: a tag half the votes hold is left off)
  # aggregation: majority        # majority | dawid_skene | quality (annotator quality, recorded; docs/VENDORS.md)
  # max_spread: 2                # numbers: votes spread wider than this send the item back (else the median)
  # batches_in_flight: 1         # batches the vendor may hold at once (3: a new one goes out while two are open)
  # max_delivery_bytes: 536870912   # a larger delivery file is refused unread (too_large)
  # max_delivery_rows: 5000000   # a delivery file with more rows is refused (too_many_rows)
  # label_attribute: label       # ground_truth chains: whose labels count (default: the last job's but a verifier's)
  # machine_labels: keep_apart   # the vendor tool's auto-labels: keep_apart | train (never charged)
  # complete_when: done_marker   # when a delivery is read: done_marker | all_answered | {{quiet_minutes: 15}}

tracking:
  uri: sqlite:///mlflow.db       # or http://mlflow-server:5000
  # experiment: {name}
  # reference_curve: simulation/curves.json   # draw random sampling's curve beside the campaign's
  # data_docs: true               # the labeled set's Great Expectations result and Data Docs on each round run

seed: 0
"""


def example_campaign(name: str) -> str:
    """The commented campaign file `alflow init NAME` writes."""
    return EXAMPLE.format(name=name)
