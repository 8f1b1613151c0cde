"""Trains a Fashion-MNIST classifier with PyTorch, deterministically, as an aicert protocol trainer.

The PyTorch twin of examples/fashion-mnist (TensorFlow.js): the same JSONL records, the same
784-64-10 MLP, plain SGD with a linearly decaying learning rate, on the CPU with one thread and
deterministic algorithms, so a segment replayed from its checkpoint gives the same bytes.
Everything random derives from the seed through the aicert trainer SDK (python/aicert_trainer.py):
started by ``aicert run --trainer ...`` or ``aicert audit`` it follows the AICERT_* environment
(docs/trainer-protocol.md); started by hand it derives the seed from --seed. See README.md.

    /usr/bin/python3 examples/pytorch-fashion-mnist/train.py --data examples/fashion-mnist/data --out /tmp/pt
"""
import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
import time
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
# The SDK is one file: beside this script when copied into a code directory, else in the repository.
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "python")]
# No __pycache__ beside the SDK: the code directory was measured before the run, and a file added
# to it during the run would make `aicert verify --code DIR` report it as not certified.
sys.dont_write_bytecode = True
import aicert_trainer as sdk  # noqa: E402

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("train.py: PyTorch is missing: apt-get install python3-torch (for /usr/bin/python3)", file=sys.stderr)
    sys.exit(3)

IMAGE_PIXELS = 28 * 28
CLASS_COUNT = 10
HIDDEN_UNITS = 64
ARCHITECTURE = f"mlp-{IMAGE_PIXELS}-{HIDDEN_UNITS}-{CLASS_COUNT}"
# name, shape (PyTorch's [out, in] for weights), in the order the initialization draws them
PARAMETERS = [
    ("fc1.weight", [HIDDEN_UNITS, IMAGE_PIXELS]), ("fc1.bias", [HIDDEN_UNITS]),
    ("fc2.weight", [CLASS_COUNT, HIDDEN_UNITS]), ("fc2.bias", [CLASS_COUNT]),
]
DEFAULTS = {"epochs": 5, "batch_size": 32, "learning_rate": 0.2}
MAX_DATASET_BYTES = 128 * 1024 * 1024
LOSS_CHUNK = 1000


class UsageError(Exception):
    """Unusable input: reported on stderr, exit status 2."""


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="train.py", description=__doc__.split("\n\n")[0],
        epilog="Under the aicert trainer protocol (AICERT_TRAINER_MODE set) the seed comes from AICERT_SEED, "
               "the training records from AICERT_DATASET, and a transcript is written to AICERT_TRANSCRIPT; "
               "modes init, replay and loss ignore the options and write AICERT_OUTPUT.")
    parser.add_argument("--data", help="directory holding train.jsonl and test.jsonl")
    parser.add_argument("--out", help="where model.safetensors and metrics.json go (created if missing)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    parser.add_argument("--seed", type=int, help="seed of the initial weights and the data order (default 1; not under the protocol)")
    parser.add_argument("--limit", type=int, help="train on the first N training records only (not under the protocol)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.learning_rate > 0:
        raise UsageError("--epochs and --batch-size must be at least 1, --learning-rate above 0")
    return args


# ---------------------------------------------------------------------------------------------
# Data: the JSONL records of examples/fashion-mnist ({"label":N,"pixels":"<base64 of 784 bytes>"})


def read_records(path, limit=None):
    """(pixels as a uint8 tensor [n, 784], labels as an int64 tensor [n]), records in file order."""
    size = os.stat(path).st_size
    if size > MAX_DATASET_BYTES:
        raise UsageError(f"{path} is {size} bytes, more than the {MAX_DATASET_BYTES}-byte limit")
    pixels = bytearray()
    labels = []
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if limit is not None and len(labels) >= limit:
                break
            where = f"{path} line {number}"
            try:
                record = json.loads(line)
            except ValueError as err:
                raise UsageError(f"{where}: the record is not JSON: {err}") from None
            if not isinstance(record, dict) or sorted(record) != ["label", "pixels"]:
                raise UsageError(f'{where}: a record must have exactly the keys "label" and "pixels"')
            label = record["label"]
            if type(label) is not int or not 0 <= label < CLASS_COUNT:
                raise UsageError(f'{where}: "label" must be an integer from 0 to {CLASS_COUNT - 1}')
            try:
                image = base64.b64decode(record["pixels"], validate=True) if isinstance(record["pixels"], str) else b""
            except binascii.Error:
                image = b""
            if len(image) != IMAGE_PIXELS:
                raise UsageError(f'{where}: "pixels" must be the base64 of exactly {IMAGE_PIXELS} bytes')
            pixels += image
            labels.append(label)
    if not labels:
        raise UsageError(f"{path} holds no records")
    images = torch.frombuffer(pixels, dtype=torch.uint8).reshape(len(labels), IMAGE_PIXELS)
    return images.to(torch.float32) / 255, torch.tensor(labels, dtype=torch.int64)


# ---------------------------------------------------------------------------------------------
# The model and its checkpoints


def initial_weights(seed):
    """W0 from s: Glorot-uniform weights, (2u - 1) * sqrt(6 / (fan_in + fan_out)) with u = unit()
    drawn from stream(s, "aicert/init") (fc1.weight row-major, then fc2.weight), zero biases."""
    stream = sdk.SeedStream(seed, "aicert/init")
    tensors = {}
    for name, shape in PARAMETERS:
        count = shape[0] * (shape[1] if len(shape) == 2 else 1)
        if len(shape) == 2:
            limit = (6 / (shape[0] + shape[1])) ** 0.5
            values = array("f", [(2 * stream.unit() - 1) * limit for _ in range(count)])
        else:
            values = array("f", bytes(4 * count))
        tensors[name] = sdk.Tensor(shape, values)
    return tensors


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(IMAGE_PIXELS, HIDDEN_UNITS)
        self.fc2 = nn.Linear(HIDDEN_UNITS, CLASS_COUNT)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def model_from(tensors, source):
    """The MLP holding exactly the given weights (optimizer state is not used: plain SGD has none)."""
    weights = sdk.weights_of(tensors)
    if sorted(weights) != sorted(name for name, _ in PARAMETERS):
        raise UsageError(f"{source} must hold exactly the tensors {', '.join(name for name, _ in PARAMETERS)}")
    model = Mlp()
    state = {}
    for name, shape in PARAMETERS:
        if weights[name].shape != shape:
            raise UsageError(f'{source}: tensor "{name}" must have shape {shape}')
        state[name] = torch.frombuffer(bytearray(weights[name].values().tobytes()), dtype=torch.float32).reshape(shape)
    model.load_state_dict(state)
    return model


def checkpoint_of(model):
    tensors = {}
    for name, value in model.state_dict().items():
        values = array("f")
        values.frombytes(value.detach().contiguous().numpy().tobytes())
        tensors[name] = sdk.Tensor(list(value.shape), values)
    return tensors


class LinearDecaySgd:
    """Plain SGD, lr(t) = initial * (1 - t / steps); meta.json records both, so replay recomputes it."""

    def __init__(self, model, initial, steps):
        self.initial = initial
        self.steps = steps
        self.optimizer = torch.optim.SGD(model.parameters(), lr=initial)

    @staticmethod
    def from_meta(model, meta, where):
        rate = meta["hyperparameters"].get("learningRate")
        if meta["hyperparameters"].get("optimizer") != "sgd" or not isinstance(rate, dict) \
                or rate.get("schedule") != "linear-decay" or type(rate.get("initial")) not in (int, float) \
                or not rate["initial"] > 0:
            raise UsageError(f'{where}: this trainer replays only {{"optimizer":"sgd","learningRate":{{"initial":>0,"schedule":"linear-decay"}}}}')
        return LinearDecaySgd(model, rate["initial"], meta["steps"])

    def describe(self):
        return {"optimizer": "sgd", "learningRate": {"initial": self.initial, "schedule": "linear-decay",
                                                     "formula": "initial * (1 - t / steps)"}}

    def step(self, model, t, inputs, labels, batch):
        for group in self.optimizer.param_groups:
            group["lr"] = self.initial * (1 - t / self.steps)
        index = torch.tensor(batch, dtype=torch.int64)
        loss = F.cross_entropy(model(inputs[index]), labels[index])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def evaluate(model, inputs, labels):
    with torch.no_grad():
        logits = model(inputs)
        loss = F.cross_entropy(logits, labels).item()
        accuracy = (logits.argmax(1) == labels).sum().item() / len(labels)
    return accuracy, loss


# ---------------------------------------------------------------------------------------------
# Modes


def train(args, env):
    started = time.monotonic()
    if env is not None and (args.seed is not None or args.limit is not None):
        raise UsageError("under the trainer protocol the seed comes from AICERT_SEED and the records from AICERT_DATASET: drop --seed and --limit")
    if not args.data or not args.out:
        raise UsageError("--data and --out are required (see --help)")
    seed = env.seed if env else hashlib.sha256(f"aicert-example/fashion-mnist/seed/{args.seed or 1}".encode()).digest()
    inputs, labels = read_records(env.dataset if env else os.path.join(args.data, "train.jsonl"), None if env else args.limit)
    test_inputs, test_labels = read_records(os.path.join(args.data, "test.jsonl"))
    pool, held_out = sdk.split_holdout(seed, len(labels), env.holdout_fraction if env else 0)
    schedule = sdk.batch_schedule(seed, pool, args.batch_size, args.epochs)
    per_epoch = len(schedule) // args.epochs
    os.makedirs(args.out, exist_ok=True)

    model = model_from(initial_weights(seed), "the initial weights")
    sgd = LinearDecaySgd(model, args.learning_rate, len(schedule))
    transcript = sdk.TranscriptWriter(env.transcript) if env else None
    k = env.checkpoint_every if env else 0
    print(f"training {ARCHITECTURE} on {len(pool)} images ({len(held_out)} held out, {len(test_labels)} test images), "
          f"{args.epochs} epochs of {per_epoch} steps on PyTorch {torch.__version__} cpu", file=sys.stderr)
    if transcript:
        transcript.write_meta({
            "protocol": 1, "framework": f"pytorch-{torch.__version__}/cpu", "batchSize": args.batch_size, "k": k,
            "steps": len(schedule), "records": len(labels),
            "hyperparameters": {"architecture": ARCHITECTURE, "epochs": args.epochs, **sgd.describe()},
        })
        transcript.write_checkpoint(0, checkpoint_of(model))
    loss_sum = 0.0
    train_loss, accuracy, test_loss = float("nan"), float("nan"), float("nan")
    for t, batch in enumerate(schedule):
        if transcript:
            transcript.append_batch(t, batch)
        loss_sum += sgd.step(model, t, inputs, labels, batch)
        done = t + 1
        if transcript and (done % k == 0 or done == len(schedule)):
            transcript.write_checkpoint(-(-done // k), checkpoint_of(model))
        if done % per_epoch == 0:
            train_loss, loss_sum = loss_sum / per_epoch, 0.0
            accuracy, test_loss = evaluate(model, test_inputs, test_labels)
            print(f"epoch {done // per_epoch}/{args.epochs}: train loss {train_loss:.4f}, test loss {test_loss:.4f}, "
                  f"test accuracy {100 * accuracy:.1f}% ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    metrics = {
        "architecture": ARCHITECTURE, "seed": env.seed.hex() if env else (args.seed or 1), "epochs": args.epochs,
        "steps": len(schedule), "batchSize": args.batch_size,
        "learningRate": {"initial": args.learning_rate, "decay": "linear to 0 over the run"},
        "trainRecords": len(pool), "heldOutRecords": len(held_out), "testRecords": len(test_labels),
        "trainLoss": train_loss, "testLoss": test_loss, "testAccuracy": accuracy,
    }
    sdk.write_checkpoint_file(os.path.join(args.out, "model.safetensors"), checkpoint_of(model))
    sdk.write_file_atomic(os.path.join(args.out, "metrics.json"), (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"wrote {os.path.join(args.out, 'model.safetensors')} and metrics.json: test accuracy {100 * accuracy:.1f}% "
          f"in {time.monotonic() - started:.1f} s", file=sys.stderr)


def replay(env):
    """Loads checkpoint i and runs steps i*k ... min((i+1)*k, T) - 1 with the recorded batches."""
    meta = sdk.read_transcript_meta(env.transcript)
    if meta["k"] != env.checkpoint_every:
        raise UsageError(f"the transcript's meta.json says k = {meta['k']}, the commitment says AICERT_CHECKPOINT_EVERY = {env.checkpoint_every}")
    first = env.segment * meta["k"]
    end = min(first + meta["k"], meta["steps"])
    if first >= meta["steps"]:
        raise UsageError(f"segment {env.segment} does not exist: the run has {meta['steps']} steps of which each segment holds {meta['k']}")
    inputs, labels = read_records(env.dataset)
    if len(labels) != meta["records"]:
        raise UsageError(f"{env.dataset} holds {len(labels)} records; the transcript was trained on {meta['records']}")
    batches = sdk.read_batches(env.transcript)
    if len(batches) < end:
        raise UsageError(f"batches.jsonl records {len(batches)} steps; segment {env.segment} needs steps {first} to {end - 1}")
    source = sdk.checkpoint_path(env.transcript, env.segment)
    model = model_from(sdk.read_checkpoint_file(source), source)
    sgd = LinearDecaySgd.from_meta(model, meta, os.path.join(env.transcript, "meta.json"))
    for t in range(first, end):
        sgd.step(model, t, inputs, labels, checked(batches[t], len(labels), f"step {t}"))
    sdk.write_checkpoint_file(env.output, checkpoint_of(model))


def losses(env):
    inputs, labels = read_records(env.dataset)
    records = checked(sdk.read_record_indices(env.records), len(labels), env.records)
    model = model_from(sdk.read_checkpoint_file(env.checkpoint), env.checkpoint)
    result = []
    with torch.no_grad():
        for start in range(0, len(records), LOSS_CHUNK):
            index = torch.tensor(records[start:start + LOSS_CHUNK], dtype=torch.int64)
            result += F.cross_entropy(model(inputs[index]), labels[index], reduction="none").tolist()
    sdk.write_losses(env.output, result)


def checked(indices, count, where):
    bad = [i for i in indices if i >= count]
    if bad:
        raise UsageError(f"{where}: record {bad[0]} is not in the dataset of {count} records")
    return indices


def main(argv):
    args = parse_args(argv)
    env = sdk.read_trainer_environment()
    if env is None or env.mode == "train":
        train(args, env)
    elif env.mode == "init":
        sdk.write_checkpoint_file(env.output, initial_weights(env.seed))
    elif env.mode == "replay":
        replay(env)
    else:
        losses(env)


def run_program(program, entry):
    """Runs entry(argv) deterministically; usage, protocol and file errors end it with one line and exit 2."""
    # Deterministic CPU arithmetic: one thread, fixed reduction order, no nondeterministic kernels.
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        entry(sys.argv[1:])
    except (UsageError, sdk.TrainerProtocolError) as err:
        print(f"{program}: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        print(f"{program}: {err.filename or ''}: {err.strerror}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run_program("train.py", main)
