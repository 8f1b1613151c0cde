"""The PyTorch example's inference server, for `aicert serve` (docs/serving.md).

Loads DIR/model.safetensors as train.py writes it (the 784 -> 64 ReLU -> 10 MLP, F32) and answers
the request of examples/fashion-mnist/serve.js, its TF.js twin:

    POST /predict  {"pixels": [784 numbers 0-255]}  ->  {"class": 3, "label": "Dress", "probabilities": [...]}

Only the standard library's http.server and torch (Debian's python3-torch for /usr/bin/python3),
and the model code of train.py, so that what the attested session runs is all in this directory.
Listens on 127.0.0.1 only: `aicert serve` terminates TLS in front of it.

    /usr/bin/python3 examples/pytorch-fashion-mnist/serve.py MODEL_DIR [PORT]   (PORT: $PORT, then 8080)
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Before importing train: no __pycache__ may appear in the serving code directory, which
# `aicert serve --code` measured before starting this server.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402  (exits 3 with a message when torch is missing)

torch = train.torch
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MAX_BODY = 64 * 1024


def load_model(directory):
    path = os.path.join(directory, "model.safetensors")
    model = train.model_from(train.sdk.read_checkpoint_file(path), path)
    model.eval()
    return model


def pixels_of(body):
    """The request's 784 pixels as a float tensor [1, 784] in 0-1, or None when the request is not one."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    pixels = request.get("pixels") if isinstance(request, dict) else None
    if (
        not isinstance(pixels, list)
        or len(pixels) != train.IMAGE_PIXELS
        or not all(type(p) in (int, float) and 0 <= p <= 255 for p in pixels)
    ):
        return None
    return torch.tensor(pixels, dtype=torch.float32).reshape(1, train.IMAGE_PIXELS) / 255


def make_handler(model):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: `aicert serve` reuses its connections
        # TCP_NODELAY: http.server sends the headers and the body in two writes, and without it
        # Nagle holds the body until the client's delayed ACK (40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.answer(404, {"error": 'POST /predict {"pixels": [...]}'})

        def do_POST(self):
            length = self.headers.get("content-length", "")
            if self.path != "/predict" or not length.isdigit():
                self.close_connection = True
                return self.answer(404 if self.path != "/predict" else 411, {"error": 'POST /predict {"pixels": [...]}'})
            if int(length) > MAX_BODY:
                self.close_connection = True
                return self.answer(413, {"error": f"the body is more than {MAX_BODY} bytes"})
            x = pixels_of(self.rfile.read(int(length)))
            if x is None:
                return self.answer(400, {"error": f"pixels must be {train.IMAGE_PIXELS} numbers in 0-255"})
            with torch.no_grad():
                probabilities = torch.softmax(model(x), dim=1)[0]
            best = int(torch.argmax(probabilities))
            self.answer(200, {"class": best, "label": LABELS[best], "probabilities": probabilities.tolist()})

        def log_message(self, *args):
            pass  # one line per request would drown the serving log

    return Handler


def main(argv):
    if not argv or len(argv) > 2:
        print("usage: serve.py MODEL_DIR [PORT]", file=sys.stderr)
        return 2
    port = int(argv[1] if len(argv) > 1 else os.environ.get("PORT", "8080"))
    torch.set_num_threads(1)
    try:
        model = load_model(argv[0])
    except (OSError, ValueError, train.UsageError, train.sdk.TrainerProtocolError) as err:
        print(f"serve.py: cannot load the model: {err}", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(model))
    print(f"pytorch-fashion-mnist: serving {argv[0]} on http://127.0.0.1:{port}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
