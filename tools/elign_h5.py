"""elign_h5.py — write HDF5 files the way Elign-C reads them (format version 2).

Elign-C's readers (common/io/h5io.h) accept only checksummed storage:
  * the HDF5 1.10 file-format objects (superblock 3, object header 2, ...),
    so every metadata block carries a checksum: libver=('v110', 'v110');
  * every dataset chunked with the Fletcher32 filter alone (no compression),
    chunks of whole rows, about CHUNK_BYTES each;
  * fixed-length UTF-8 strings only (variable-length strings live in HDF5's
    global heap, which has no checksum).
A file written by h5py's defaults is refused. Python that writes files for
Elign-C uses these helpers; reading needs nothing special except that string
attributes and datasets come back as bytes (as_str decodes them).

    import elign_h5
    with elign_h5.create("x.h5") as f:
        elign_h5.set_str_attr(f, "elign_format", "dataset")
        f.attrs["elign_format_version"] = np.int64(2)
        elign_h5.put_array(f, "offsets", offsets)
        elign_h5.put_strings(f, "smiles", ["CCO", ""])

(tools/ is not a package: callers put this directory on sys.path.)
"""
import h5py
import numpy as np

FORMAT_VERSION = 2
LIBVER = ('v110', 'v110')
CHUNK_BYTES = 1 << 18  # ELIGN_H5_CHUNK_BYTES in common/io/h5io.h


def create(path):
    """A new file (truncating) with checksummed metadata."""
    return h5py.File(path, 'w', libver=LIBVER)


def chunks_for(shape, itemsize):
    """Whole rows, a power of two of them, about CHUNK_BYTES per chunk (the
    rule of h5io.c's dataset_create_plist). A zero-sized dimension is
    extendible: maxshape has None there."""
    chunk = [max(1, int(d)) for d in shape]
    row = itemsize
    for d in chunk[1:]:
        row *= d
    rows = 1
    while rows * 2 * row <= CHUNK_BYTES:
        rows *= 2
    chunk[0] = min(chunk[0], rows)
    maxshape = tuple(None if d == 0 else int(d) for d in shape)
    return tuple(chunk), maxshape


def put_array(loc, name, data, dtype=None):
    """A numeric array (rank >= 1), chunked with Fletcher32."""
    a = np.asarray(data, dtype=dtype)
    if a.ndim == 0:
        a = a.reshape(1)
    chunks, maxshape = chunks_for(a.shape, a.dtype.itemsize)
    return loc.create_dataset(name, data=a, chunks=chunks, maxshape=maxshape, fletcher32=True)


def _fixed(strings):
    raw = [(s if s is not None else '').encode('utf-8') if not isinstance(s, bytes) else s for s in strings]
    width = max([1] + [len(b) for b in raw])
    # The dtype carries h5py's UTF-8 tag: HDF5 does not convert between ASCII and UTF-8.
    return np.array(raw, dtype=h5py.string_dtype('utf-8', width)), width


def put_strings(loc, name, strings):
    """A 1-D array of fixed-length UTF-8 strings as wide as the longest."""
    arr, width = _fixed(list(strings))
    chunks, maxshape = chunks_for(arr.shape, width)
    return loc.create_dataset(name, data=arr, chunks=chunks, maxshape=maxshape, fletcher32=True)


def put_text(loc, name, text):
    """One text (e.g. a YAML config) as a [1] fixed-length string dataset."""
    return put_strings(loc, name, [text])


def set_str_attr(obj, name, value):
    """A scalar fixed-length UTF-8 string attribute."""
    arr, width = _fixed([value])
    obj.attrs.create(name, arr.reshape(()), dtype=arr.dtype)


def as_str(v):
    """A string read back (numpy bytes, bytes or str) as str."""
    if isinstance(v, np.ndarray) and v.shape == (1,):
        v = v[0]
    return v.decode('utf-8') if isinstance(v, (bytes, np.bytes_)) else v
