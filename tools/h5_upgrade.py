#!/usr/bin/python3
"""h5_upgrade.py — convert an Elign-C file of format version 1 to version 2.

    h5_upgrade.py OLD.h5 NEW.h5

Version 2 (docs/formats.md, "Integrity") keeps every layout of version 1 and
changes only the storage: checksummed metadata, Fletcher32 on every dataset,
fixed-length strings. Elign-C refuses version-1 files because a damaged one
can crash or hang libhdf5 (the variable-length strings sit in its
unchecksummed global heap); this script reads them with h5py, in its own
process, and writes every group, dataset and attribute again with
tools/elign_h5.py. The scalar /config text of model files becomes a [1]
string dataset. NEW.h5 is written under a temporary name and renamed at the
end; OLD.h5 is never modified, and NEW.h5 may not be OLD.h5.
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elign_h5  # noqa: E402  (tools/ is not a package)


def is_string(dtype):
    return h5py.check_string_dtype(dtype) is not None or dtype.kind in ('S', 'U', 'O')


def copy_attrs(src, dst):
    for k in src.attrs:
        v = src.attrs[k]
        if k == 'elign_format_version':
            dst.attrs.create(k, np.int64(elign_h5.FORMAT_VERSION))
        elif isinstance(v, (str, bytes, np.bytes_)) or (isinstance(v, np.ndarray) and is_string(v.dtype)):
            if isinstance(v, np.ndarray):
                if v.size != 1:
                    raise SystemExit(f'attribute {k} of {src.name}: string arrays are not part of any Elign-C format')
                v = v.reshape(-1)[0]
            dst_value = v.decode('utf-8') if isinstance(v, (bytes, np.bytes_)) else v
            elign_h5.set_str_attr(dst, k, dst_value)
        else:
            dst.attrs.create(k, v)


def copy_dataset(name, ds, out):
    if is_string(ds.dtype):
        values = ds.asstr()[()] if ds.shape != () else ds.asstr()[()]
        if ds.shape == ():
            new = elign_h5.put_text(out, name, values)
        else:
            new = elign_h5.put_strings(out, name, list(values))
    else:
        new = elign_h5.put_array(out, name, ds[()])
    copy_attrs(ds, new)


def upgrade(src_path, dst_path):
    if os.path.exists(dst_path) and os.path.samefile(src_path, dst_path):
        raise SystemExit(f'{dst_path}: the output would replace the input')
    with h5py.File(src_path, 'r') as src:
        fmt = src.attrs.get('elign_format')
        fmt = fmt.decode() if isinstance(fmt, (bytes, np.bytes_)) else fmt
        if fmt is None:
            raise SystemExit(f'{src_path}: not an Elign-C file (no elign_format attribute)')
        version = int(src.attrs.get('elign_format_version', 0))
        if version != 1:
            raise SystemExit(f'{src_path}: Elign-C {fmt} file of format version {version}; only version 1 is converted')
        tmp = f'{dst_path}.tmp.{os.getpid()}'
        try:
            with elign_h5.create(tmp) as out:
                copy_attrs(src, out)

                def visit(name, obj):
                    if isinstance(obj, h5py.Group):
                        copy_attrs(obj, out.require_group(name))
                    else:
                        copy_dataset(name, obj, out)
                src.visititems(visit)
            os.replace(tmp, dst_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    print(f'{dst_path}: Elign-C {fmt} file, format version {elign_h5.FORMAT_VERSION} (from {src_path})')


def main(argv):
    if len(argv) != 3 or argv[1] in ('-h', '--help'):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    upgrade(argv[1], argv[2])
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
