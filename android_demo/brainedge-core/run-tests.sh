#!/usr/bin/env bash
# Compile brainedge-core and its JUnit 4 tests with the installed JDK and run them.
# Needs javac/java (JDK 11+) and JUnit 4 + Hamcrest jars (Debian: apt-get install junit4).
# Override the jar locations with JUNIT_JAR / HAMCREST_JAR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
for jar in "$junit" "$hamcrest"; do
    if [[ ! -f "$jar" ]]; then
        echo "error: $jar not found (apt-get install junit4, or set JUNIT_JAR/HAMCREST_JAR)" >&2
        exit 2
    fi
done

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
mkdir -p "$build/main" "$build/test"

# --release 8 keeps the core on the Java API that Android minSdk 24 offers.
javac --release 8 -Xlint:all -Xlint:-options -Werror -d "$build/main" \
    $(find "$here/src/main/java" -name '*.java')
javac -Xlint:all -Werror -cp "$build/main:$junit:$hamcrest" -d "$build/test" \
    $(find "$here/src/test/java" -name '*.java')

tests=$(cd "$here/src/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
java -Djava.awt.headless=true \
    -cp "$build/main:$build/test:$here/src/test/resources:$junit:$hamcrest" \
    org.junit.runner.JUnitCore $tests
