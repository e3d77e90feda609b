#!/usr/bin/env bash
# Regenerate the BYOVA gRPC stubs from voicebot/telephony/webex/proto/*.proto.
# protoc must match the protobuf runtime pipecat allows (<7): grpcio-tools 1.76 bundles protobuf 6.31's.
# Newer grpcio-tools upgrade protobuf to 7 on install, which breaks pipecat: use a throwaway venv.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. voicebot/telephony/webex/proto/*.proto
