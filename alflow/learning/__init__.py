"""Learning from the labels: the data the model reads, the checks it must pass, the model itself.

data        chunked reading of pools and label files, local or s3://; ids and labels as text
validation  Great Expectations rules, the one-line errors they raise, Data Docs
models      build, train and evaluate the campaign's scikit-learn classifier
"""
