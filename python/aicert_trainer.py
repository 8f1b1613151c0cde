"""aicert trainer protocol SDK for Python, standard library only.

The Python twin of the TypeScript SDK ``aicert/trainer`` (src/trainer/): it reads the AICERT_*
environment a protocol trainer runs with, derives the held-out records, the data order and the
initialization stream from the committed seed, and writes the transcript (meta.json, checkpoints,
batches.jsonl) that ``aicert run`` measures and ``aicert audit`` replays. Both SDKs produce the
same streams, splits, schedules and checkpoint bytes for the same inputs (a test checks it).
The protocol is specified in docs/trainer-protocol.md; copy this one file next to your trainer.

Tensors are plain F32 data: ``Tensor(shape, data)`` with ``data`` an ``array('f')`` (or any
bytes-like object of little-endian float32 values), so that it works with any framework; see
examples/pytorch-fashion-mnist/train.py for PyTorch.
"""

import hashlib
import json
import math
import os
import struct
import sys
from array import array

__all__ = [
    "PROTOCOL", "TrainerProtocolError", "TrainerEnvironment", "read_trainer_environment",
    "SeedStream", "holdout_count", "split_holdout", "epoch_order", "batch_schedule",
    "Tensor", "OPTIMIZER_PREFIX", "encode_f32_safetensors", "write_checkpoint_file",
    "read_checkpoint_file", "weights_of", "checkpoint_path", "TranscriptWriter",
    "read_transcript_meta", "read_batches", "read_record_indices", "write_losses", "write_file_atomic",
]

PROTOCOL = 1
SEED_BYTES = 32
OPTIMIZER_PREFIX = "optimizer/"
MODES = ("train", "init", "replay", "loss")
_MILLIONTHS = 1_000_000
_HEADER_ALIGNMENT = 8
_MAX_SAFETENSORS_HEADER_BYTES = 100_000_000
MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024
MAX_BATCHES_BYTES = 1024 * 1024 * 1024
_MAX_META_BYTES = 1024 * 1024
_MAX_RECORDS_FILE_BYTES = 16 * 1024 * 1024
_MAX_SAFE_INTEGER = 2 ** 53 - 1


class TrainerProtocolError(ValueError):
    """Malformed protocol input (environment, transcript file, checkpoint). Exit non-zero on it."""


# ---------------------------------------------------------------------------------------------
# Environment


class TrainerEnvironment:
    """The AICERT_* variables, parsed and checked (docs/trainer-protocol.md, "Environment")."""

    def __init__(self, mode, seed, transcript, checkpoint_every, holdout_fraction, dataset,
                 segment=None, checkpoint=None, records=None, output=None):
        self.protocol = PROTOCOL
        self.mode = mode
        self.seed = seed  # 32 bytes
        self.transcript = transcript
        self.checkpoint_every = checkpoint_every
        self.holdout_fraction = holdout_fraction
        self.dataset = dataset
        self.segment = segment
        self.checkpoint = checkpoint
        self.records = records
        self.output = output


def _bad_env(name, problem):
    return TrainerProtocolError(f"{name} {problem} (see docs/trainer-protocol.md)")


def _whole_number(text, name, minimum):
    if not (text == "0" or (text[:1] in "123456789" and text.isdigit() and text.isascii())):
        raise _bad_env(name, f"must be a whole number >= {minimum}, got {text!r}")
    value = int(text)
    if value < minimum or value > _MAX_SAFE_INTEGER:
        raise _bad_env(name, f"must be a whole number >= {minimum}, got {text!r}")
    return value


def read_trainer_environment(env=None):
    """The protocol environment, or None when AICERT_TRAINER_MODE is unset.

    Raises TrainerProtocolError on anything malformed, missing for the mode, or a protocol
    version other than 1.
    """
    env = os.environ if env is None else env
    mode = env.get("AICERT_TRAINER_MODE")
    if mode is None:
        return None

    def get(name):
        value = env.get(name)
        if not value:
            raise _bad_env(name, "is not set")
        return value

    protocol = get("AICERT_TRAINER_PROTOCOL")
    if protocol != str(PROTOCOL):
        raise TrainerProtocolError(
            f"AICERT_TRAINER_PROTOCOL is {protocol!r}; this SDK speaks trainer protocol {PROTOCOL} only")
    if mode not in MODES:
        raise _bad_env("AICERT_TRAINER_MODE", f"must be one of {', '.join(MODES)}, got {mode!r}")
    seed = get("AICERT_SEED")
    if len(seed) != 64 or any(c not in "0123456789abcdef" for c in seed):
        raise _bad_env("AICERT_SEED", "must be 64 lower-case hex digits")
    holdout = get("AICERT_HOLDOUT_FRACTION")
    decimals = holdout[2:]
    if not (holdout == "0" or (holdout[:2] == "0." and 1 <= len(decimals) <= 6
                               and decimals.isascii() and decimals.isdigit())):
        raise _bad_env("AICERT_HOLDOUT_FRACTION",
                       f"must be a decimal from 0 to below 1 with at most 6 decimal places, got {holdout!r}")
    result = TrainerEnvironment(
        mode=mode,
        seed=bytes.fromhex(seed),
        transcript=_absolute(get("AICERT_TRANSCRIPT"), "AICERT_TRANSCRIPT"),
        checkpoint_every=_whole_number(get("AICERT_CHECKPOINT_EVERY"), "AICERT_CHECKPOINT_EVERY", 1),
        holdout_fraction=float(holdout),
        dataset=_absolute(get("AICERT_DATASET"), "AICERT_DATASET"),
    )
    if mode == "replay":
        result.segment = _whole_number(get("AICERT_SEGMENT"), "AICERT_SEGMENT", 0)
    if mode == "loss":
        result.checkpoint = get("AICERT_CHECKPOINT")
        result.records = get("AICERT_RECORDS")
    if mode != "train":
        result.output = get("AICERT_OUTPUT")
    return result


def _absolute(text, name):
    if not os.path.isabs(text):
        raise _bad_env(name, f"must be an absolute path, got {text!r}")
    return text


# ---------------------------------------------------------------------------------------------
# Deterministic streams from the seed


class SeedStream:
    """The bytes SHA-256(s || label || u64be(0)), SHA-256(s || label || u64be(1)), ...

    uniform(n) rejects a big-endian u64 x >= 2^64 - (2^64 mod n) and returns x mod n;
    permutation(n) is Fisher-Yates from the end; unit() is (u32be >> 8) / 2^24.
    """

    def __init__(self, seed, label):
        if len(seed) != SEED_BYTES:
            raise TrainerProtocolError(f"the seed must be {SEED_BYTES} bytes, got {len(seed)}")
        self._prefix = bytes(seed) + label.encode("utf-8")
        self._block = b""
        self._used = 0
        self._counter = 0

    def next_bytes(self, n):
        out = bytearray()
        while len(out) < n:
            if self._used == len(self._block):
                self._block = hashlib.sha256(self._prefix + struct.pack(">Q", self._counter)).digest()
                self._counter += 1
                self._used = 0
            take = min(n - len(out), len(self._block) - self._used)
            out += self._block[self._used:self._used + take]
            self._used += take
        return bytes(out)

    def uniform(self, n):
        if not isinstance(n, int) or n < 1 or n > _MAX_SAFE_INTEGER:
            raise ValueError(f"uniform: the bound {n!r} is not a positive safe integer")
        limit = 2 ** 64 - (2 ** 64 % n)
        while True:
            x = int.from_bytes(self.next_bytes(8), "big")
            if x < limit:
                return x % n

    def unit(self):
        return (int.from_bytes(self.next_bytes(4), "big") >> 8) / 2 ** 24

    def permutation(self, n):
        a = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.uniform(i + 1)
            a[i], a[j] = a[j], a[i]
        return a


def _holdout_millionths(fraction):
    millionths = round(fraction * _MILLIONTHS)
    if not (0 <= fraction < 1) or abs(fraction * _MILLIONTHS - millionths) > 1e-6:
        raise TrainerProtocolError(
            f"the held-out fraction must be a decimal from 0 to below 1 with at most 6 decimal places, got {fraction}")
    return millionths


def holdout_count(records, fraction):
    """h = ceil(n * fraction), computed exactly in integer millionths."""
    return (records * _holdout_millionths(fraction) + _MILLIONTHS - 1) // _MILLIONTHS


def split_holdout(seed, records, fraction):
    """(train_pool ascending, held_out in permutation order) from stream(s, "aicert/holdout")."""
    if not isinstance(records, int) or records < 1:
        raise TrainerProtocolError(f"a dataset must hold at least one record, got {records}")
    h = holdout_count(records, fraction)
    if h >= records:
        raise TrainerProtocolError(f"holding out {h} of {records} records leaves none to train on")
    permutation = SeedStream(seed, "aicert/holdout").permutation(records)
    return sorted(permutation[:records - h]), permutation[records - h:]


def epoch_order(seed, train_pool, epoch):
    """The training pool permuted with stream(s, "aicert/order/" + epoch)."""
    return [train_pool[j] for j in SeedStream(seed, f"aicert/order/{epoch}").permutation(len(train_pool))]


def batch_schedule(seed, train_pool, batch_size, epochs):
    """The record indices of every step; the last partial batch of an epoch is dropped."""
    if not 1 <= batch_size <= len(train_pool):
        raise TrainerProtocolError(
            f"the batch size must be from 1 to the {len(train_pool)} records of the training pool, got {batch_size}")
    if epochs < 1:
        raise TrainerProtocolError(f"the number of epochs must be a positive whole number, got {epochs}")
    steps = []
    per_epoch = len(train_pool) // batch_size
    for epoch in range(epochs):
        order = epoch_order(seed, train_pool, epoch)
        steps.extend(order[b * batch_size:(b + 1) * batch_size] for b in range(per_epoch))
    return steps


# ---------------------------------------------------------------------------------------------
# Checkpoints: F32 safetensors


class Tensor:
    """An F32 tensor: shape (list of ints) and data (array('f'), or little-endian float32 bytes)."""

    dtype = "F32"

    def __init__(self, shape, data):
        self.shape = list(shape)
        self.data = data

    def little_endian_bytes(self):
        if isinstance(self.data, array):
            if self.data.typecode != "f":
                raise TrainerProtocolError("tensor data must be array('f')")
            if sys.byteorder == "little":
                return self.data.tobytes()
            swapped = array("f", self.data)
            swapped.byteswap()
            return swapped.tobytes()
        return bytes(self.data)

    def values(self):
        """The data as array('f') in host byte order."""
        return self.data if isinstance(self.data, array) else _f32_from_little_endian(self.data)


def _f32_from_little_endian(raw):
    values = array("f")
    values.frombytes(bytes(raw))
    if sys.byteorder != "little":
        values.byteswap()
    return values


def _utf8_name_key(name):
    return name.encode("utf-8")


def encode_f32_safetensors(tensors):
    """The safetensors bytes of {name: Tensor}, identical to the TypeScript SDK's."""
    names = sorted(tensors, key=_utf8_name_key)
    header = {}
    chunks = []
    offset = 0
    for name in names:
        tensor = tensors[name]
        # "__proto__" too, as the TypeScript SDK refuses it: JavaScript readers of headers lose it.
        if name in ("", "__metadata__", "__proto__"):
            raise TrainerProtocolError(f"tensor name {name!r} is empty or reserved")
        _utf8_name_key(name)  # raises on lone surrogates, which have no UTF-8 spelling
        if getattr(tensor, "dtype", None) != "F32":
            raise TrainerProtocolError(f'tensor "{name}" must be F32')
        if not all(isinstance(d, int) and d >= 0 for d in tensor.shape):
            raise TrainerProtocolError(f'tensor "{name}" has a shape that is not a list of whole numbers')
        data = tensor.little_endian_bytes()
        if len(data) != 4 * math.prod(tensor.shape):
            raise TrainerProtocolError(
                f'tensor "{name}" has shape {tensor.shape} but {len(data) / 4:g} values')
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    padded = -(-len(text) // _HEADER_ALIGNMENT) * _HEADER_ALIGNMENT
    return struct.pack("<Q", padded) + text + b" " * (padded - len(text)) + b"".join(chunks)


def write_file_atomic(path, data):
    """Writes to a temporary name in the same directory, fsyncs, renames into place."""
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def write_checkpoint_file(path, tensors):
    write_file_atomic(path, encode_f32_safetensors(tensors))


def read_checkpoint_file(path):
    """{name: Tensor} (data as array('f')) from an F32 safetensors file, checked strictly."""
    size = os.stat(path).st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise TrainerProtocolError(f"{path} is {size} bytes, more than the {MAX_CHECKPOINT_BYTES}-byte limit")
    with open(path, "rb") as f:
        data = f.read(MAX_CHECKPOINT_BYTES + 1)
    fail = lambda problem: TrainerProtocolError(f"{path}: {problem}")
    if len(data) < 8:
        raise fail("the file ends inside the 8-byte header length")
    (length,) = struct.unpack_from("<Q", data, 0)
    if length > min(_MAX_SAFETENSORS_HEADER_BYTES, len(data) - 8):
        raise fail(f"header length {length} runs past the end of the file")
    raw = data[8:8 + length]
    if raw[:1] != b"{":
        raise fail('the header does not start with "{"')
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as err:
        raise fail(f"the header is not valid UTF-8 JSON: {err}") from None
    if not isinstance(header, dict):
        raise fail("the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail('"__metadata__" must be an object of string values')
    start = 8 + length
    entries = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or sorted(entry) != ["data_offsets", "dtype", "shape"]:
            raise fail(f'tensor "{name}" must be an object with exactly data_offsets, dtype, shape')
        shape, offsets = entry["shape"], entry["data_offsets"]
        if entry["dtype"] != "F32":
            raise fail(f'tensor "{name}" is {entry["dtype"]}; checkpoints hold F32 tensors only')
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise fail(f'tensor "{name}" has a shape that is not a list of non-negative integers')
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets) \
                or offsets[0] > offsets[1] or offsets[1] - offsets[0] != 4 * math.prod(shape):
            raise fail(f'tensor "{name}" has data_offsets that do not match its shape')
        entries.append((offsets[0], offsets[1], name, shape))
    entries.sort()
    expected = 0
    tensors = {}
    for begin, end, name, shape in entries:
        if begin != expected:
            raise fail(f'tensor "{name}" overlaps the tensor before it or leaves a gap')
        if start + end > len(data):
            raise fail(f'tensor "{name}" runs past the end of the file')
        tensors[name] = Tensor(shape, _f32_from_little_endian(data[start + begin:start + end]))
        expected = end
    if start + expected != len(data):
        raise fail(f"the last {len(data) - start - expected} bytes of the file belong to no tensor")
    return tensors


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'it repeats the key "{key}" in one object')
        result[key] = value
    return result


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_SAFE_INTEGER


def weights_of(tensors):
    """Every tensor not prefixed "optimizer/"."""
    return {name: t for name, t in tensors.items() if not name.startswith(OPTIMIZER_PREFIX)}


# ---------------------------------------------------------------------------------------------
# The transcript directory


def checkpoint_path(transcript, index):
    return os.path.join(transcript, "checkpoints", f"{index:06d}.safetensors")


_META_KEYS = ["batchSize", "framework", "hyperparameters", "k", "protocol", "records", "steps"]


def _check_meta(meta, where):
    if not isinstance(meta, dict) or sorted(meta) != _META_KEYS:
        raise TrainerProtocolError(f"{where}: must have exactly the keys {', '.join(_META_KEYS)}")
    if meta["protocol"] != PROTOCOL or isinstance(meta["protocol"], bool):
        raise TrainerProtocolError(f'{where}: "protocol" must be {PROTOCOL}')
    if not isinstance(meta["framework"], str) or not meta["framework"]:
        raise TrainerProtocolError(f'{where}: "framework" must name the framework')
    for key in ("batchSize", "k", "steps", "records"):
        if not _is_count(meta[key]) or meta[key] < 1:
            raise TrainerProtocolError(f'{where}: "{key}" must be a positive whole number')
    if not isinstance(meta["hyperparameters"], dict):
        raise TrainerProtocolError(f'{where}: "hyperparameters" must be an object')


class TranscriptWriter:
    """Writes meta.json, checkpoints in index order and batches.jsonl lines in step order."""

    def __init__(self, directory):
        self.dir = directory
        self._next_checkpoint = 0
        self._next_step = 0

    def write_meta(self, meta):
        _check_meta(meta, "the meta.json to write")
        os.makedirs(self.dir, exist_ok=True)
        write_file_atomic(os.path.join(self.dir, "meta.json"),
                          (json.dumps(meta, separators=(",", ":")) + "\n").encode("utf-8"))

    def write_checkpoint(self, index, tensors):
        if index != self._next_checkpoint:
            raise TrainerProtocolError(f"checkpoint {index} written out of order: checkpoint {self._next_checkpoint} is next")
        path = checkpoint_path(self.dir, index)
        if os.path.exists(path):
            raise TrainerProtocolError(f"{path} already exists; a transcript is written once")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_checkpoint_file(path, tensors)
        self._next_checkpoint += 1

    def append_batch(self, step, indices):
        if step != self._next_step:
            raise TrainerProtocolError(f"the batch of step {step} appended out of order: step {self._next_step} is next")
        indices = list(indices)
        if not all(_is_count(i) for i in indices):
            raise TrainerProtocolError(f"the batch of step {step} holds something other than record indices")
        os.makedirs(self.dir, exist_ok=True)
        line = json.dumps({"step": step, "indices": indices}, separators=(",", ":")) + "\n"
        with open(os.path.join(self.dir, "batches.jsonl"), "ab") as f:
            f.write(line.encode("utf-8"))
        self._next_step += 1


def _read_bounded(path, limit):
    size = os.stat(path).st_size
    if size > limit:
        raise TrainerProtocolError(f"{path} is {size} bytes, more than the {limit}-byte limit")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TrainerProtocolError(f"{path} grew past the {limit}-byte limit while it was read")
    return data


def _strict_json(data, where):
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as err:
        raise TrainerProtocolError(f"{where}: not UTF-8 JSON: {err}") from None


def read_transcript_meta(transcript):
    path = os.path.join(transcript, "meta.json")
    meta = _strict_json(_read_bounded(path, _MAX_META_BYTES), path)
    _check_meta(meta, path)
    return meta


def read_batches(transcript):
    """The record indices of every step from batches.jsonl: step t on line t, every line complete."""
    path = os.path.join(transcript, "batches.jsonl")
    data = _read_bounded(path, MAX_BATCHES_BYTES)
    if data and not data.endswith(b"\n"):
        raise TrainerProtocolError(f"{path}: the last line is incomplete (no line feed)")
    batches = []
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        where = f"{path} line {number}"
        record = _strict_json(line, where)
        if not isinstance(record, dict) or sorted(record) != ["indices", "step"]:
            raise TrainerProtocolError(f'{where}: a line must have exactly the keys "step" and "indices"')
        if not _is_count(record["step"]) or record["step"] != len(batches):
            raise TrainerProtocolError(f'{where}: step {record["step"]!r} where step {len(batches)} belongs')
        indices = record["indices"]
        if not isinstance(indices, list) or not indices or not all(_is_count(i) for i in indices):
            raise TrainerProtocolError(f'{where}: "indices" must be a non-empty array of record indices')
        batches.append(indices)
    return batches


def read_record_indices(path):
    """AICERT_RECORDS of loss mode: a JSON array of record indices."""
    value = _strict_json(_read_bounded(path, _MAX_RECORDS_FILE_BYTES), path)
    if not isinstance(value, list) or not all(_is_count(i) for i in value):
        raise TrainerProtocolError(f"{path}: must be a JSON array of record indices (whole numbers >= 0)")
    return value


def write_losses(path, losses):
    """{"losses":[...]}, one finite number per requested record, written atomically."""
    losses = [float(loss) for loss in losses]
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            raise TrainerProtocolError(f"the loss of requested record {i} is {loss}; JSON holds finite numbers only")
    write_file_atomic(path, (json.dumps({"losses": losses}, separators=(",", ":")) + "\n").encode("utf-8"))
