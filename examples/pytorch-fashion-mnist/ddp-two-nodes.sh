#!/bin/sh
# A certified data-parallel PyTorch run across two "nodes" on one machine (docs/distributed.md):
# two software TPMs enrolled with one local attestation CA, two `aicert run` processes joined into
# one group run on loopback, each starting a torchrun node (DDP, gloo) of train_ddp.py; then
# `aicert verify` of the group's certificate and `aicert audit`, which replays segments of the
# distributed run in one process. Writes everything under WORK (default /tmp/aicert-ddp).
#
#   examples/pytorch-fashion-mnist/ddp-two-nodes.sh [WORK]
#
# Environment: AICERT (the aicert command, default `aicert`), AICERT_DDP_PORT (aicert's rendezvous,
# default 29400) and TORCH_DDP_PORT (torchrun's, default 29500), EPOCHS (default 1).
# Exit status: the first failing step's (the audit's verdict is printed, not an error: with so few
# segments its memorization test is usually inconclusive).
set -eu
WORK=${1:-/tmp/aicert-ddp}
AICERT=${AICERT:-aicert}
RENDEZVOUS_PORT=${AICERT_DDP_PORT:-29400}
TORCH_PORT=${TORCH_DDP_PORT:-29500}
EPOCHS=${EPOCHS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(cd "$HERE/../fashion-mnist/data" && pwd)
# Both nodes talk over loopback; gloo would otherwise pick the interface of the host name.
export GLOO_SOCKET_IFNAME=lo
# aicert's state (AK certificates, TPM locks) for this demo only.
export AICERT_HOME="$WORK/home"

rm -rf "$WORK"
mkdir -p "$WORK/code"
# The certified code: the trainer, the single-process trainer it builds on, and the SDK.
cp "$HERE/train_ddp.py" "$HERE/train.py" "$HERE/../../python/aicert_trainer.py" "$WORK/code/"

stop() {
  for i in 0 1; do $AICERT tpm simulator stop --dir "$WORK/tpm$i" 2>/dev/null || true; done
}
trap stop EXIT
for i in 0 1; do
  $AICERT tpm simulator start --dir "$WORK/tpm$i" >"$WORK/tpm$i.env"
done
tpm_address() { sed -n "s/^export AICERT_TPM='\(.*\)'$/\1/p" "$WORK/tpm$1.env"; }
$AICERT ca init "$WORK/ca" \
  --ek-roots "$WORK/tpm0/ca/swtpm-localca-rootca-cert.pem" "$WORK/tpm1/ca/swtpm-localca-rootca-cert.pem" \
  --ek-intermediates "$WORK/tpm0/ca/issuercert.pem" "$WORK/tpm1/ca/issuercert.pem" >/dev/null
for i in 0 1; do $AICERT ak enroll --ca "$WORK/ca" --tpm "$(tpm_address $i)" >/dev/null; done

# One node: aicert joins the group (rank i of 2), then starts torchrun's node i, which keeps the
# host's network (--network host) to reach the other node; the TPM stays hidden from it.
run_node() {
  $AICERT run --tpm "$(tpm_address "$1")" --nodes 2 --node-rank "$1" --rendezvous "127.0.0.1:$RENDEZVOUS_PORT" \
    --network host --trainer --checkpoint-every 10 \
    --code "$WORK/code" --data "$DATA" --trainer-data "$DATA/train.jsonl" --output "$WORK/node$1/model" \
    -- /usr/bin/torchrun --nnodes 2 --node_rank "$1" --nproc_per_node 1 --redirects 2 --tee 2 \
    --master_addr 127.0.0.1 --master_port "$TORCH_PORT" \
    "$WORK/code/train_ddp.py" --data "$DATA" --epochs "$EPOCHS" --out "$WORK/node$1/model" \
    >"$WORK/node$1.log" 2>&1
}
started=$(date +%s)
run_node 0 &
rank0=$!
run_node 1 &
rank1=$!
status=0
wait $rank0 || status=$?
wait $rank1 || status=$?
if [ "$status" -ne 0 ]; then
  echo "ddp-two-nodes: the group run failed (exit $status); see $WORK/node0.log and $WORK/node1.log" >&2
  exit "$status"
fi
certified=$(date +%s)
echo "certified in $((certified - started)) s: $WORK/node0/model.aicert.json" >&2

cat >"$WORK/policy.yaml" <<'EOF'
version: 1
nodes: 2
# DDP between nodes needs the network; the TPM, aicert's state and capabilities stay out of reach.
network: host
EOF
$AICERT verify "$WORK/node0/model.aicert.json" --trust "$WORK/ca/ca.pem" --policy "$WORK/policy.yaml" \
  --model "$WORK/node0/model" --json >"$WORK/verify.json"
verified=$(date +%s)
echo "verified in $((verified - certified)) s" >&2

audit=0
$AICERT audit "$WORK/node0/model.aicert.json" --transcript "$WORK/node0/model.transcript" --data "$DATA" \
  --code "$WORK/code" --trust "$WORK/ca/ca.pem" --q 1 --random 1 --out "$WORK/audit.json" \
  -- /usr/bin/python3 "$WORK/code/train_ddp.py" --data "$DATA" --epochs "$EPOCHS" --out "$WORK/node0/model" \
  >"$WORK/audit.txt" 2>"$WORK/audit.log" || audit=$?
audited=$(date +%s)
echo "audited in $((audited - verified)) s (exit $audit): $WORK/audit.txt" >&2
if [ "$audit" -ge 2 ]; then
  cat "$WORK/audit.log" >&2
  exit "$audit"
fi
echo "total $((audited - started)) s" >&2
