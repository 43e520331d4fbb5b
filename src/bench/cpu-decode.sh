#!/usr/bin/env bash
# CPU decode benchmark: a random Llama-3.2-1B-geometry bf16 checkpoint (written once to $DIR),
# three runs each with 2 threads and 1 thread, JSON lines to stdout. Build first:
#   ./mvnw -B -q -DskipTests package
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${DIR:-/tmp/llama-1b}
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
JAR=gpu-engine/target/headroom-engine.jar
for run in 1 2 3; do
  for threads in 2 1; do
    "$JAVA" --add-modules jdk.incubator.vector -Xmx8g -jar "$JAR" bench --random llama-1b --model "$DIR" \
      --decode-tokens 32 --threads "$threads" 2>/dev/null | tr -d '\n' | tr -s ' '
    echo
  done
done
