#!/usr/bin/python3
"""edm_import.py — convert a public EDM checkpoint to an Elign-C model file and back.

Import (default):
    edm_import.py --args args.pickle --weights generative_model_ema.npy --out model.h5
Export (the reverse, for the public PyTorch code):
    edm_import.py --export model.h5 --out-dir DIR
        writes DIR/generative_model_ema.npy (torch.save'd state_dict of
        EnVariationalDiffusion: buffer, gamma.gamma, dynamics.egnn.*) and
        DIR/args.pickle (argparse.Namespace).

The weights file is NOT a NumPy file: it is torch.save(state_dict) (PyTorch
zip/pickle). Elign checkpoints (a dict with 'model_state_dict', or a state
dict whose tensors appear twice, bare and under 'model.') and DDP-saved ones
('module.' prefix) are accepted. args.pickle is read with a permissive
unpickler that needs none of the EDM code.

Output layout: the generic model checkpoint of common/io/checkpoint.h
(docs/formats.md) with the architecture attributes listed in
common/model/edm_model.h (docs/formats-diffusion.md); parameters keep the
state_dict names as views; the γ table goes to /arch gamma_table; the
dataset's atom-count histogram (ALGORITHMS.md §3.1 / Appendix A, in the
dataset dict's insertion order) to /nodes_hist. The full argparse Namespace
is kept as JSON in /arch edm_args_json so --export can rebuild args.pickle.

Needs /usr/bin/python3 with python3-torch, python3-h5py, python3-numpy.
"""
import argparse
import collections
import io
import json
import math
import os
import pickle
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elign_h5  # noqa: E402  (tools/ is not a package)

FORMAT_VERSION = elign_h5.FORMAT_VERSION  # checksummed storage (docs/formats.md, "Integrity")

QM9_HIST = collections.OrderedDict([
    (22, 3393), (17, 13025), (23, 4848), (21, 9970), (19, 13832), (20, 9482), (16, 10644), (13, 3060),
    (15, 7796), (25, 1506), (18, 13364), (12, 1689), (11, 807), (24, 539), (14, 5136), (26, 48), (7, 16),
    (10, 362), (8, 49), (9, 124), (27, 266), (4, 4), (29, 25), (6, 9), (5, 5), (3, 1)])

GEOM_HIST = collections.OrderedDict(sorted({
    3: 1, 4: 3, 5: 9, 6: 2, 7: 8, 8: 23, 9: 23, 10: 50, 11: 109, 12: 168, 13: 280, 14: 402,
    15: 583, 16: 597, 17: 949, 18: 1284, 19: 1862, 20: 2674, 21: 3599, 22: 6109, 23: 8693,
    24: 13604, 25: 17419, 26: 25672, 27: 31647, 28: 43809, 29: 56697, 30: 70400, 31: 82655,
    32: 104100, 33: 122776, 34: 140834, 35: 164888, 36: 185451, 37: 194541, 38: 218549, 39: 231232,
    40: 243300, 41: 253349, 42: 268341, 43: 272081, 44: 276917, 45: 276839, 46: 274747, 47: 272126,
    48: 262709, 49: 250157, 50: 244781, 51: 228898, 52: 215338, 53: 203728, 54: 191697, 55: 180518,
    56: 163843, 57: 152055, 58: 136536, 59: 120393, 60: 107292, 61: 94635, 62: 83179, 63: 68384,
    64: 61517, 65: 48867, 66: 37685, 67: 32859, 68: 27367, 69: 20981, 70: 18699, 71: 14791,
    72: 11921, 73: 9933, 74: 9037, 75: 6538, 76: 6374, 77: 4036, 78: 4189, 79: 3842, 80: 3277,
    81: 2925, 82: 1843, 83: 2060, 84: 1394, 85: 1514, 86: 1357, 87: 1346, 88: 999, 89: 300,
    90: 390, 91: 510, 92: 510, 93: 240, 94: 721, 95: 360, 96: 360, 97: 390, 98: 330, 99: 540,
    100: 258, 101: 210, 102: 60, 103: 180, 104: 206, 105: 60, 106: 390, 107: 180, 108: 180,
    109: 150, 110: 120, 111: 360, 112: 120, 113: 210, 114: 60, 115: 30, 116: 210, 117: 270,
    118: 450, 119: 240, 120: 228, 121: 120, 122: 30, 123: 420, 124: 240, 125: 210, 126: 158,
    127: 180, 128: 60, 129: 30, 130: 120, 131: 30, 132: 120, 133: 60, 134: 240, 135: 169, 136: 240,
    137: 30, 138: 270, 139: 180, 140: 270, 141: 150, 142: 60, 143: 60, 144: 240, 145: 180,
    146: 150, 147: 150, 148: 90, 149: 90, 151: 30, 152: 60, 155: 90, 159: 30, 160: 60, 165: 30,
    171: 30, 175: 30, 176: 60, 181: 30,}.items()))

# dataset name -> (atomic numbers of the one-hot channels, histogram)
DATASETS = {
    'qm9': ([1, 6, 7, 8, 9], QM9_HIST),
    'qm9_first_half': ([1, 6, 7, 8, 9], QM9_HIST),
    'qm9_second_half': ([1, 6, 7, 8, 9], QM9_HIST),
    'geom': ([1, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 33, 35, 53, 80, 83], GEOM_HIST),
}

BLOCK_TENSORS = [  # (suffix, shape as a function of nf F)
    ('gcl_0.edge_mlp.0.weight', lambda F: (F, 2 * F + 2)), ('gcl_0.edge_mlp.0.bias', lambda F: (F,)),
    ('gcl_0.edge_mlp.2.weight', lambda F: (F, F)), ('gcl_0.edge_mlp.2.bias', lambda F: (F,)),
    ('gcl_0.node_mlp.0.weight', lambda F: (F, 2 * F)), ('gcl_0.node_mlp.0.bias', lambda F: (F,)),
    ('gcl_0.node_mlp.2.weight', lambda F: (F, F)), ('gcl_0.node_mlp.2.bias', lambda F: (F,)),
    ('gcl_0.att_mlp.0.weight', lambda F: (1, F)), ('gcl_0.att_mlp.0.bias', lambda F: (1,)),
    ('gcl_equiv.coord_mlp.0.weight', lambda F: (F, 2 * F + 2)), ('gcl_equiv.coord_mlp.0.bias', lambda F: (F,)),
    ('gcl_equiv.coord_mlp.2.weight', lambda F: (F, F)), ('gcl_equiv.coord_mlp.2.bias', lambda F: (F,)),
    ('gcl_equiv.coord_mlp.4.weight', lambda F: (1, F)),
]


class ImportError_(Exception):
    """A bad input: printed as one line naming the file and key."""


# ---- outputs never destroy inputs (the rule of common/base/outputs.h) ---------------

def _file_id(path):
    """(device, inode) of an existing file, else its path with the directory resolved."""
    try:
        st = os.stat(path)
        return ('inode', st.st_dev, st.st_ino)
    except OSError:
        d, b = os.path.split(path)
        return ('path', os.path.join(os.path.realpath(d or '.'), b))


def check_outputs(outputs, inputs, force):
    """outputs, inputs: lists of (path, option). Refuse an output that is an input or
    another output, one whose directory is missing, an existing non-regular file, and an
    existing file unless force."""
    for i, (out, role) in enumerate(outputs):
        oid = _file_id(out)
        for path, irole in inputs:
            if oid == _file_id(path):
                raise ImportError_(f'{role} {out} is the same file as {irole} {path}: refusing to overwrite an input')
        for path, orole in outputs[:i]:
            if oid == _file_id(path):
                raise ImportError_(f'{orole} {path} and {role} {out} are the same file: each output needs its own name')
        d = os.path.dirname(out) or '.'
        if not os.path.isdir(d):
            raise ImportError_(f'{role} {out}: directory {d} does not exist')
        if os.path.lexists(out):
            if not os.path.isfile(out):
                raise ImportError_(f'{role} {out} exists and is not a regular file: refusing to replace it')
            if not force:
                raise ImportError_(f'{role} {out} exists: refusing to overwrite it (pass --force to replace it)')


def write_atomically(path, write):
    """write(tmp_path) fills a temporary beside path; it is fsync'ed and renamed over
    path. On any error the temporary is removed and the error names path."""
    tmp = f'{path}.tmp.{os.getpid()}'
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        raise ImportError_(f'{path}: cannot write: {e.strerror or e}')
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    try:
        dfd = os.open(os.path.dirname(path) or '.', os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
    except OSError:
        pass  # best effort: some file systems refuse fsync on directories


# ---- args.pickle ---------------------------------------------------------------

class _Stub:
    """Stands in for any class the EDM pickle names but we do not have."""

    def __init__(self, *a, **k):
        self.__dict__.update(k)

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)


class PermissiveUnpickler(pickle.Unpickler):
    SAFE = {'argparse', 'builtins', 'collections', 'copyreg', 'numpy', 'numpy.core.multiarray', '_codecs'}

    def find_class(self, module, name):
        if module.split('.')[0] in {m.split('.')[0] for m in self.SAFE}:
            try:
                return super().find_class(module, name)
            except (AttributeError, ModuleNotFoundError):
                pass
        return type(name, (_Stub,), {'__module__': module})


def load_args(path):
    try:
        with open(path, 'rb') as f:
            obj = PermissiveUnpickler(f).load()
    except OSError as e:
        raise ImportError_(f'{path}: cannot read: {e.strerror}')
    except Exception as e:  # noqa: BLE001 — any unpickling failure is a bad file
        raise ImportError_(f'{path}: not a pickled argparse.Namespace ({e})')
    d = vars(obj) if hasattr(obj, '__dict__') else obj
    if not isinstance(d, dict):
        raise ImportError_(f'{path}: not a pickled argparse.Namespace')
    return d


def jsonable(v):
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return repr(v)


# ---- the state dict ------------------------------------------------------------

def load_state_dict(path):
    if not os.path.isfile(path):
        raise ImportError_(f'{path}: no such file')
    import torch  # late: importing torch takes seconds
    try:
        obj = torch.load(path, map_location='cpu')
    except FileNotFoundError:
        raise ImportError_(f'{path}: no such file')
    except Exception as e:  # noqa: BLE001
        raise ImportError_(f'{path}: not a torch.save file ({e})')
    if isinstance(obj, dict) and 'model_state_dict' in obj and isinstance(obj['model_state_dict'], dict):
        obj = obj['model_state_dict']
    if not isinstance(obj, dict):
        raise ImportError_(f'{path}: expected a state_dict (a dict of tensors), found {type(obj).__name__}')
    out = collections.OrderedDict()
    for key, val in obj.items():
        k = key[len('module.'):] if key.startswith('module.') else key
        is_copy = k.startswith('model.')
        bare = k[len('model.'):] if is_copy else k
        if not hasattr(val, 'numpy'):
            raise ImportError_(f'{path}: entry {key} is not a tensor')
        if bare in out and is_copy:
            continue  # Elign's wrapper copy of a tensor we already have: the bare key wins
        out[bare] = val.detach().cpu().numpy()
    return out


def architecture(args, args_path):
    def need(key):
        if key not in args:
            raise ImportError_(f'{args_path}: args has no key {key}')
        return args[key]

    if need('model') != 'egnn_dynamics':
        raise ImportError_(f"{args_path}: model = {args['model']!r}, only 'egnn_dynamics' is supported")
    if int(args.get('inv_sublayers', 1)) != 1:
        raise ImportError_(f"{args_path}: inv_sublayers = {args['inv_sublayers']} (only 1 supported)")
    if args.get('sin_embedding', False):
        raise ImportError_(f'{args_path}: sin_embedding = True is not supported')
    if args.get('conditioning') or int(args.get('context_node_nf', 0) or 0):
        raise ImportError_(f'{args_path}: conditioning {args.get("conditioning")} is not supported')
    if args.get('aggregation_method', 'sum') != 'sum':
        raise ImportError_(f"{args_path}: aggregation_method = {args['aggregation_method']!r} (only 'sum')")
    if args.get('remove_h', False):
        raise ImportError_(f'{args_path}: remove_h = True (hydrogen-free models) is not supported')
    dataset = str(need('dataset'))
    if dataset not in DATASETS:
        raise ImportError_(f'{args_path}: dataset {dataset!r} unknown (supported: {", ".join(DATASETS)})')
    Z, hist = DATASETS[dataset]
    nfac = [float(x) for x in args.get('normalize_factors', [1, 4, 10])]
    if nfac != [1.0, 4.0, 10.0]:
        raise ImportError_(f'{args_path}: normalize_factors {nfac} (only [1, 4, 10] supported)')
    schedule = str(need('diffusion_noise_schedule'))
    if not schedule.startswith('polynomial_'):
        raise ImportError_(f'{args_path}: diffusion_noise_schedule {schedule!r} (only polynomial_<p>)')
    arch = collections.OrderedDict([
        ('model', 'egnn_dynamics'),
        ('n_layers', int(need('n_layers'))),
        ('inv_sublayers', 1),
        ('nf', int(need('nf'))),
        ('attention', int(bool(need('attention')))),
        ('tanh', int(bool(need('tanh')))),
        ('coords_range', float(args.get('coords_range', 15.0))),
        ('norm_constant', float(args.get('norm_constant', 1))),
        ('normalization_factor', float(args.get('normalization_factor', 1))),
        ('aggregation_method', 'sum'),
        ('condition_time', int(bool(args.get('condition_time', True)))),
        ('include_charges', int(bool(need('include_charges')))),
        ('diffusion_steps', int(need('diffusion_steps'))),
        ('diffusion_noise_schedule', schedule),
        ('diffusion_noise_precision', float(need('diffusion_noise_precision'))),
        ('diffusion_loss_type', str(args.get('diffusion_loss_type', 'l2'))),
        ('normalize_factors', np.array(nfac, dtype=np.float64)),
        ('dataset', 'qm9' if dataset.startswith('qm9') else dataset),
        ('atomic_numbers', np.array(Z, dtype=np.float64)),
    ])
    return arch, hist


def expected_shapes(arch):
    F, L = arch['nf'], arch['n_layers']
    n_in = len(arch['atomic_numbers']) + arch['include_charges'] + arch['condition_time']
    shapes = collections.OrderedDict()
    shapes['dynamics.egnn.embedding.weight'] = (F, n_in)
    shapes['dynamics.egnn.embedding.bias'] = (F,)
    shapes['dynamics.egnn.embedding_out.weight'] = (n_in, F)
    shapes['dynamics.egnn.embedding_out.bias'] = (n_in,)
    for l in range(L):
        for suffix, shp in BLOCK_TENSORS:
            shapes[f'dynamics.egnn.e_block_{l}.{suffix}'] = shp(F)
    return shapes


def polynomial_gamma(T0, power, s):
    """EDM's γ table (ALGORITHMS.md §2.1), float64 → float32."""
    steps = T0 + 1
    x = np.linspace(0, steps, steps)
    a = (1 - np.power(x / steps, power)) ** 2
    a = np.concatenate([np.ones(1), a])
    a = np.cumprod(np.clip(a[1:] / a[:-1], 0.001, 1.0))
    a = (1 - 2 * s) * a + s
    return (-(np.log(a) - np.log(1 - a))).astype(np.float32)


# ---- writing / reading the HDF5 model -------------------------------------------

def write_model(path, arch, params, hist, args_dict, epoch):
    write_atomically(path, lambda tmp: _write_model_file(tmp, arch, params, hist, args_dict, epoch))


def _write_model_file(tmp, arch, params, hist, args_dict, epoch):
    with elign_h5.create(tmp) as f:
        elign_h5.set_str_attr(f, 'elign_format', 'model')
        f.attrs.create('elign_format_version', np.int64(FORMAT_VERSION))
        for k in ('iteration', 'optimizer_step'):
            f.attrs.create(k, np.int64(0))
        f.attrs.create('epoch', np.int64(epoch))
        n = sum(v.size for v in params.values())
        f.attrs.create('n_params', np.int64(n))
        g = f.create_group('arch')
        for k, v in arch.items():
            if isinstance(v, str):
                elign_h5.set_str_attr(g, k, v)
            elif isinstance(v, np.ndarray):
                g.attrs.create(k, v.astype(np.float64))
            elif isinstance(v, float):
                g.attrs.create(k, np.float64(v))
            else:
                g.attrs.create(k, np.int64(v))
        elign_h5.set_str_attr(g, 'edm_args_json', json.dumps(args_dict, sort_keys=True))
        flat = np.concatenate([v.reshape(-1).astype(np.float32) for v in params.values()]) if params else \
            np.zeros(0, np.float32)
        elign_h5.put_array(f, 'params/flat', flat)
        names = list(params.keys())
        offsets, shapes, off = [], [], 0
        for k in names:
            offsets.append(off)
            shp = list(params[k].shape) + [-1] * (4 - params[k].ndim)
            shapes.append(shp)
            off += params[k].size
        elign_h5.put_strings(f, 'params/names', names)
        elign_h5.put_array(f, 'params/offsets', np.array(offsets, dtype=np.int64))
        elign_h5.put_array(f, 'params/shapes', np.array(shapes, dtype=np.int64).reshape(len(names), 4))
        elign_h5.put_array(f, 'nodes_hist/n_atoms', np.array(list(hist.keys()), dtype=np.int64))
        elign_h5.put_array(f, 'nodes_hist/count', np.array(list(hist.values()), dtype=np.int64))


def read_model(path):
    try:
        f = h5py.File(path, 'r')
    except OSError as e:
        raise ImportError_(f'{path}: not an HDF5 file or unreadable ({e})')
    with f:
        fmt = f.attrs.get('elign_format')
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != 'model':
            raise ImportError_(f'{path}: not an Elign-C model file (elign_format = {fmt!r})')
        arch = collections.OrderedDict()
        for k, v in f['arch'].attrs.items():
            arch[k] = v.decode() if isinstance(v, bytes) else v
        flat = f['params/flat'][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f['params/names'][()]]
        offsets = f['params/offsets'][()]
        shapes = f['params/shapes'][()]
        params = collections.OrderedDict()
        for n, o, s in zip(names, offsets, shapes):
            shp = tuple(int(x) for x in s if x >= 0)
            size = int(np.prod(shp)) if shp else 1
            params[n] = flat[o:o + size].reshape(shp)
        hist = collections.OrderedDict()
        if 'nodes_hist' in f:
            for n, c in zip(f['nodes_hist/n_atoms'][()], f['nodes_hist/count'][()]):
                hist[int(n)] = int(c)
        epoch = int(f.attrs.get('epoch', 0))
    return arch, params, hist, epoch


# ---- commands ---------------------------------------------------------------------

def do_import(args_path, weights_path, out_path):
    args = load_args(args_path)
    arch, hist = architecture(args, args_path)
    sd = load_state_dict(weights_path)
    want = expected_shapes(arch)
    problems = []
    for k, shp in want.items():
        if k not in sd:
            problems.append(f'missing {k} {list(shp)}')
        elif tuple(sd[k].shape) != shp:
            problems.append(f'{k} has shape {list(sd[k].shape)}, the architecture needs {list(shp)}')
    extra = [k for k in sd if k not in want and k not in ('buffer', 'gamma.gamma')]
    problems += [f'unexpected tensor {k} {list(sd[k].shape)}' for k in extra]
    if problems:
        more = f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''
        raise ImportError_(f'{weights_path}: {problems[0]}{more}')
    T0 = arch['diffusion_steps']
    power = float(arch['diffusion_noise_schedule'].split('_', 1)[1])
    gamma = sd.get('gamma.gamma')
    if gamma is None:
        gamma = polynomial_gamma(T0, power, arch['diffusion_noise_precision'])
    elif gamma.shape != (T0 + 1,):
        raise ImportError_(f'{weights_path}: gamma.gamma has shape {list(gamma.shape)}, expected [{T0 + 1}]')
    arch['gamma_table'] = np.asarray(gamma, dtype=np.float32).astype(np.float64)
    params = collections.OrderedDict((k, np.asarray(sd[k], dtype=np.float32)) for k in want)
    write_model(out_path, arch, params, hist, jsonable(args), int(args.get('current_epoch', 0) or 0))


def do_export(model_path, out_dir):
    import torch
    arch, params, hist, epoch = read_model(model_path)
    if 'edm_args_json' in arch:
        args_dict = json.loads(arch['edm_args_json'])
    else:  # a model trained by Elign-C itself: rebuild the args EDM needs
        args_dict = {}
    defaults = {
        'model': 'egnn_dynamics', 'probabilistic_model': 'diffusion', 'n_layers': int(arch['n_layers']),
        'inv_sublayers': 1, 'nf': int(arch['nf']), 'attention': bool(arch['attention']),
        'tanh': bool(arch['tanh']), 'norm_constant': float(arch['norm_constant']),
        'normalization_factor': float(arch['normalization_factor']), 'aggregation_method': 'sum',
        'condition_time': bool(arch['condition_time']), 'include_charges': bool(arch['include_charges']),
        'diffusion_steps': int(arch['diffusion_steps']),
        'diffusion_noise_schedule': str(arch['diffusion_noise_schedule']),
        'diffusion_noise_precision': float(arch['diffusion_noise_precision']),
        'diffusion_loss_type': str(arch.get('diffusion_loss_type', 'l2')),
        'normalize_factors': [float(x) for x in arch['normalize_factors']], 'dataset': str(arch['dataset']),
        'remove_h': False, 'sin_embedding': False, 'context_node_nf': 0, 'conditioning': [],
        'current_epoch': epoch, 'dequantization': 'argmax_variational', 'ema_decay': 0.9999,
    }
    for k, v in defaults.items():
        args_dict.setdefault(k, v)
    os.makedirs(out_dir, exist_ok=True)
    sd = collections.OrderedDict()
    sd['buffer'] = torch.zeros(1)
    sd['gamma.gamma'] = torch.from_numpy(np.asarray(arch['gamma_table'], dtype=np.float32))
    for k, v in params.items():
        sd[k] = torch.from_numpy(np.array(v, dtype=np.float32))
    write_atomically(os.path.join(out_dir, 'generative_model_ema.npy'), lambda tmp: torch.save(sd, tmp))

    def dump_args(tmp):
        with open(tmp, 'wb') as f:
            pickle.dump(argparse.Namespace(**args_dict), f)
    write_atomically(os.path.join(out_dir, 'args.pickle'), dump_args)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='See the module docstring (head of this file) for the formats.')
    p.add_argument('--args', help='EDM args.pickle (import)')
    p.add_argument('--weights', help='generative_model(_ema).npy: torch.save\'d state_dict (import)')
    p.add_argument('--out', help='output model .h5 (import)')
    p.add_argument('--export', metavar='MODEL_H5', help='export an Elign-C model file to PyTorch files')
    p.add_argument('--out-dir', help='directory for --export')
    p.add_argument('--force', action='store_true', help='replace existing output files (never an input)')
    a = p.parse_args(argv)
    try:
        if a.export:
            if not a.out_dir:
                p.error('--export needs --out-dir')
            outs = [(os.path.join(a.out_dir, n), '--out-dir') for n in ('generative_model_ema.npy', 'args.pickle')]
            if os.path.isdir(a.out_dir):
                check_outputs(outs, [(a.export, '--export')], a.force)
            do_export(a.export, a.out_dir)
        else:
            if not (a.args and a.weights and a.out):
                p.error('import needs --args, --weights and --out (or use --export)')
            check_outputs([(a.out, '--out')], [(a.args, '--args'), (a.weights, '--weights')], a.force)
            do_import(a.args, a.weights, a.out)
    except ImportError_ as e:
        print(f'edm_import: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
