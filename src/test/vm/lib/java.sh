# shellcheck shell=bash
# Sourced by the harness scripts: a JDK >= 21 for Maven, chosen as CI and the demo choose it.
# shellcheck source=../../../../.ci/jdk.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)/.ci/jdk.sh"
