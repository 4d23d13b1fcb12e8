# Shared by the scripts in this folder (sourced, not run).
# shellcheck shell=bash

# Cargo-installed tools (tauri-driver) live here.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# Every cargo command of the scripts enables the app's `custom-protocol` feature, so clippy,
# the unit tests and the end-to-end tests share one build of Tauri instead of rebuilding it
# with and without the feature in turn.
CARGO_FEATURES=(--features idbulk-app/custom-protocol)

# A banner per step, with the time it took.
STEP_NAME=""
STEP_START=0
step() {
  step_done
  STEP_NAME="$*"
  STEP_START=$SECONDS
  printf '\n\033[1m==> %s\033[0m\n' "$STEP_NAME"
}
step_done() {
  if [[ -n "$STEP_NAME" ]]; then
    printf '\033[1m<== %s: done in %ss\033[0m\n' "$STEP_NAME" "$((SECONDS - STEP_START))"
  fi
  STEP_NAME=""
}
on_error() {
  printf '\n\033[1;31m!!! FAILED: %s (exit %s)\033[0m\n' "${STEP_NAME:-$0}" "$1" >&2
}

# Starts a private Xvfb at 1280x800 and exports DISPLAY; `stop_xvfb` (set as an EXIT trap by
# the caller) ends it. The display number is chosen by Xvfb (-displayfd), so parallel runs and
# a developer's own :99 never collide.
XVFB_PID=""
start_xvfb() {
  local fd_file
  fd_file=$(mktemp)
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp -noreset 3>"$fd_file" \
    >/dev/null 2>&1 </dev/null &
  XVFB_PID=$!
  for _ in $(seq 100); do
    [[ -s "$fd_file" ]] && break
    sleep 0.1
  done
  if [[ ! -s "$fd_file" ]]; then
    echo "Xvfb did not start" >&2
    return 1
  fi
  export DISPLAY=":$(tr -d '[:space:]' <"$fd_file")"
  rm -f "$fd_file"
  echo "Xvfb running on $DISPLAY (pid $XVFB_PID)"
}
stop_xvfb() {
  if [[ -n "$XVFB_PID" ]]; then
    kill -TERM "$XVFB_PID" 2>/dev/null || true
    wait "$XVFB_PID" 2>/dev/null || true
    XVFB_PID=""
  fi
}

# Builds the UI into ui/dist (embedded by the custom-protocol build of the app).
build_ui() {
  (cd ui && npm run build)
}
