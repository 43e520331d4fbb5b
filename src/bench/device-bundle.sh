#!/usr/bin/env bash
# Bundles what a GPU-machine run needs (that machine has no Java): a jlink'd JDK 25 runtime, the
# engine CLI jar without the tokenizer natives of other platforms, the engine's test classes and
# the JUnit console launcher. Output: .device/ (git-ignored); name it in the device call's carry.
# Build first: ./mvnw -B -q -DskipTests package && ./mvnw -B -q -pl gpu-engine test-compile
set -euo pipefail
cd "$(dirname "$0")/../.."
JDK=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
mkdir -p .device
if [ ! -f .device/runtime.tgz ]; then
  rm -rf /tmp/hr-runtime
  "$JDK/bin/jlink" --add-modules java.base,java.logging,jdk.unsupported,jdk.incubator.vector,jdk.zipfs \
    --strip-debug --no-man-pages --no-header-files --compress=zip-9 --output /tmp/hr-runtime
  tar czf .device/runtime.tgz -C /tmp hr-runtime
fi
cp gpu-engine/target/headroom-engine.jar .device/headroom-engine.jar
# keep only linux-x86_64 natives of the tokenizers library (the jar carries four platforms)
zip -q -d .device/headroom-engine.jar 'native/lib/linux-aarch64/*' 'native/lib/osx-*' 'native/lib/win-*' \
  'com/sun/jna/aix-*' 'com/sun/jna/darwin-*' 'com/sun/jna/win32-*' 'com/sun/jna/sunos-*' 'com/sun/jna/freebsd-*' \
  'com/sun/jna/openbsd-*' 'com/sun/jna/linux-[a-wy-z]*' 'com/sun/jna/linux-x86/*' || true
# the GPU machine is an H100: its kernels as sm_90a code only (the jar's fatbins carry every target,
# which took the bundle past the device call's 64 MiB)
KDIR=io/headroom/engine/backend/cuda
rm -rf /tmp/hr-fatbins && mkdir -p /tmp/hr-fatbins/$KDIR
for cu in gpu-engine/src/main/cuda/*.cu; do
  /usr/local/bin/nvcc -fatbin -O3 -std=c++17 -I gpu-engine/src/main/cuda -gencode arch=compute_90a,code=sm_90a \
    "$cu" -o /tmp/hr-fatbins/$KDIR/$(basename "${cu%.cu}").fatbin
done
(cd /tmp/hr-fatbins && zip -q "$OLDPWD/.device/headroom-engine.jar" $KDIR/*.fatbin)
zip -q -d .device/headroom-engine.jar 'com/sun/jna/dragonflybsd-*' 'nlp/*' || true
rm -rf .device/test-classes && cp -r gpu-engine/target/test-classes .device/test-classes && rm -rf .device/test-classes/golden  # the tracked copy in gpu-engine/src/test/resources travels anyway
M2=${HOME}/.m2/repository
./mvnw -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:${JUNIT_PLATFORM:-6.0.3} -DoutputDirectory=.device >/dev/null
cp "$M2"/org/assertj/assertj-core/*/assertj-core-*.jar .device/ 2>/dev/null || true
ls -la .device
du -sh .device
