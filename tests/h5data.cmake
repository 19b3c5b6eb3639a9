# HDF5 formats, checkpoints, importers, `elign data import` and `elign info` (area: h5data).
elign_add_test(NAME test_h5_dataset SOURCES test_h5_dataset.c TIMEOUT 60)
elign_add_test(NAME test_h5_checkpoint SOURCES test_h5_checkpoint.c TIMEOUT 120)
