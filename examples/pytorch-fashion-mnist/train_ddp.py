"""Trains the Fashion-MNIST MLP data-parallel across processes (PyTorch DDP, gloo), as an aicert trainer.

The distributed twin of train.py: the same records, model, initialization and learning-rate
schedule, but every step's batch of W x b records is split among the W processes torchrun starts
(rank r takes records [r*b, (r+1)*b) of it), each computes the gradient of its slice's mean loss,
and DistributedDataParallel averages them, so every replica takes the same SGD step. Under the
aicert trainer protocol (docs/trainer-protocol.md, docs/distributed.md) each node's process of
local rank 0 writes the transcript aicert watches on that node: meta.json (batchSize = W x b,
the world size in its hyperparameters), the checkpoints (identical on every node) and the
step's whole batch. init, loss and replay run in one process: replay computes each rank's
gradient on its slice of the logged batch and averages them as DDP does, so one machine
reproduces a segment of the distributed run. See README.md.

    torchrun --nnodes 1 --nproc-per-node 2 examples/pytorch-fashion-mnist/train_ddp.py \\
      --data examples/fashion-mnist/data --out /tmp/pt-ddp
"""
import argparse
import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "python")]
# As in train.py: nothing may be written into the measured code directory during the run.
sys.dont_write_bytecode = True
import aicert_trainer as sdk  # noqa: E402
import train as single  # noqa: E402  (train.py: records, model, initialization, schedule, loss mode)
from train import UsageError  # noqa: E402

import torch  # noqa: E402  (train.py has already exited 3 if PyTorch is missing)
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DEFAULTS = {"epochs": 1, "batch_size": 16, "learning_rate": 0.2}
GRADIENT = "mean over ranks, in rank order, of (1/W) x the gradient of each rank's mean loss on its slice"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="train_ddp.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="directory holding train.jsonl and test.jsonl")
    parser.add_argument("--out", help="where model.safetensors and metrics.json go (created if missing)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="records per rank per step (b)")
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    parser.add_argument("--seed", type=int, help="seed when not under the protocol (default 1)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.learning_rate > 0:
        raise UsageError("--epochs and --batch-size must be at least 1, --learning-rate above 0")
    return args


def data_parallel(meta, where):
    """The world size W and per-rank batch b a transcript was trained with."""
    spec = meta["hyperparameters"].get("dataParallel")
    if not isinstance(spec, dict) or type(spec.get("worldSize")) is not int or spec["worldSize"] < 1 \
            or spec.get("gradient") != GRADIENT or meta["batchSize"] % spec["worldSize"] != 0:
        raise UsageError(f'{where}: this trainer replays only {{"dataParallel":{{"worldSize":W,"gradient":"{GRADIENT}"}}}} '
                         "with batchSize a multiple of W")
    return spec["worldSize"], meta["batchSize"] // spec["worldSize"]


def set_rate(sgd, t):
    for group in sgd.optimizer.param_groups:
        group["lr"] = sgd.initial * (1 - t / sgd.steps)


def train(args, env):
    started = time.monotonic()
    # Started by torchrun: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Started alone (e.g. by
    # `aicert trainer check`): one rank, no process group, the same arithmetic with W = 1.
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    writes = os.environ.get("LOCAL_RANK", "0") == "0"  # one transcript per node: aicert watches it there
    if not args.data or not args.out:
        raise UsageError("--data and --out are required (see --help)")
    seed = env.seed if env else hashlib.sha256(f"aicert-example/fashion-mnist/seed/{args.seed or 1}".encode()).digest()
    inputs, labels = single.read_records(env.dataset if env else os.path.join(args.data, "train.jsonl"))
    pool, held_out = sdk.split_holdout(seed, len(labels), env.holdout_fraction if env else 0)
    b = args.batch_size
    schedule = sdk.batch_schedule(seed, pool, world * b, args.epochs)
    model = single.model_from(single.initial_weights(seed), "the initial weights")
    sgd = single.LinearDecaySgd(model, args.learning_rate, len(schedule))
    # Gradients are averaged over ranks: bucket = (1/W) * gradient, all-reduced (summed).
    replica = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    transcript = sdk.TranscriptWriter(env.transcript) if env and writes else None
    k = env.checkpoint_every if env else 0
    if rank == 0:
        print(f"training {single.ARCHITECTURE} on {len(pool)} images ({len(held_out)} held out) across {world} ranks, "
              f"{len(schedule)} steps of {world} x {b} records", file=sys.stderr)
    if transcript:
        transcript.write_meta({
            "protocol": 1, "framework": f"pytorch-{torch.__version__}/cpu/ddp-gloo", "batchSize": world * b, "k": k,
            "steps": len(schedule), "records": len(labels),
            "hyperparameters": {"architecture": single.ARCHITECTURE, "epochs": args.epochs, **sgd.describe(),
                                "dataParallel": {"worldSize": world, "gradient": GRADIENT}},
        })
        transcript.write_checkpoint(0, single.checkpoint_of(model))
    for t, batch in enumerate(schedule):
        if transcript:
            transcript.append_batch(t, batch)
        set_rate(sgd, t)
        index = torch.tensor(batch[rank * b:(rank + 1) * b], dtype=torch.int64)
        loss = F.cross_entropy(replica(inputs[index]), labels[index])
        sgd.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sgd.optimizer.step()
        done = t + 1
        if transcript and (done % k == 0 or done == len(schedule)):
            transcript.write_checkpoint(-(-done // k), single.checkpoint_of(model))
    test_inputs, test_labels = single.read_records(os.path.join(args.data, "test.jsonl"))
    accuracy, test_loss = single.evaluate(model, test_inputs, test_labels)
    if distributed:
        dist.destroy_process_group()
    if writes:
        os.makedirs(args.out, exist_ok=True)
        sdk.write_checkpoint_file(os.path.join(args.out, "model.safetensors"), single.checkpoint_of(model))
        metrics = {"architecture": single.ARCHITECTURE, "worldSize": world, "perRankBatchSize": b,
                   "steps": len(schedule), "testLoss": test_loss, "testAccuracy": accuracy}
        sdk.write_file_atomic(os.path.join(args.out, "metrics.json"), (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"rank {rank}: test accuracy {100 * accuracy:.1f}% in {time.monotonic() - started:.1f} s", file=sys.stderr)


def replay(env):
    """Checkpoint i, then steps i*k ... with each rank's gradient on its slice of the logged batch, averaged."""
    meta = sdk.read_transcript_meta(env.transcript)
    where = os.path.join(env.transcript, "meta.json")
    world, b = data_parallel(meta, where)
    if meta["k"] != env.checkpoint_every:
        raise UsageError(f"the transcript's meta.json says k = {meta['k']}, AICERT_CHECKPOINT_EVERY = {env.checkpoint_every}")
    first = env.segment * meta["k"]
    end = min(first + meta["k"], meta["steps"])
    if first >= meta["steps"]:
        raise UsageError(f"segment {env.segment} does not exist: the run has {meta['steps']} steps")
    inputs, labels = single.read_records(env.dataset)
    if len(labels) != meta["records"]:
        raise UsageError(f"{env.dataset} holds {len(labels)} records; the transcript was trained on {meta['records']}")
    batches = sdk.read_batches(env.transcript)
    if len(batches) < end:
        raise UsageError(f"batches.jsonl records {len(batches)} steps; segment {env.segment} needs steps {first} to {end - 1}")
    source = sdk.checkpoint_path(env.transcript, env.segment)
    model = single.model_from(sdk.read_checkpoint_file(source), source)
    sgd = single.LinearDecaySgd.from_meta(model, meta, where)
    parameters = list(model.parameters())
    for t in range(first, end):
        batch = single.checked(batches[t], len(labels), f"step {t}")
        if len(batch) != world * b:
            raise UsageError(f"step {t} logs {len(batch)} records, not {world} x {b}")
        set_rate(sgd, t)
        average = None
        for rank in range(world):  # what DDP's all-reduce sums: (1/W) x each rank's gradient
            index = torch.tensor(batch[rank * b:(rank + 1) * b], dtype=torch.int64)
            loss = F.cross_entropy(model(inputs[index]), labels[index])
            scaled = [g.mul(1.0 / world) for g in torch.autograd.grad(loss, parameters)]
            average = scaled if average is None else [a + s for a, s in zip(average, scaled)]
        for p, g in zip(parameters, average):
            p.grad = g
        sgd.optimizer.step()
    sdk.write_checkpoint_file(env.output, single.checkpoint_of(model))


def main(argv):
    args = parse_args(argv)
    env = sdk.read_trainer_environment()
    if env is None or env.mode == "train":
        train(args, env)
    elif env.mode == "init":
        sdk.write_checkpoint_file(env.output, single.initial_weights(env.seed))
    elif env.mode == "replay":
        replay(env)
    else:
        single.losses(env)


if __name__ == "__main__":
    single.run_program("train_ddp.py", main)
