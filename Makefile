# tuimon: `make run` and `make test` set up everything they need on a fresh
# Debian/Ubuntu machine (system packages as root, Python packages in .venv).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS ?=

.PHONY: run test test-fast bench setup system clean

run: setup
	$(VENV)/bin/tuimon $(ARGS)

test: setup
	@$(PY) -m pytest -n 6 --dist worksteal $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure here"; exit 1; fi; \
	exit $$rc

# The unit tier alone: no tshark, no namespaces, no terminal.
test-fast: setup
	@$(PY) -m pytest -n 2 tests/unit $(PYTEST_ARGS)

# The benchmark's peers (softflowd, nfdump's nfpcapd), installed only for it.
bench: setup
	@missing=""; command -v softflowd >/dev/null || missing="$$missing softflowd"; \
	command -v nfpcapd >/dev/null || missing="$$missing nfdump"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi
	$(PY) -m bench.run $(ARGS)

# The compiled record walk (tuimon/capture/walk.c) built into the user's cache now rather
# than at first use; says so only when it cannot be (the reader then walks in Python).
# The package byte-compiled too (an editable install writes no .pyc, nor does Python under
# PYTHONDONTWRITEBYTECODE, which compileall ignores): otherwise every start compiles the
# source again (about 0.1 s of CPU). Files already compiled and unchanged are skipped.
setup: system $(VENV)/.installed
	@$(PY) -m tuimon.capture.cwalk --quiet || true
	@$(PY) -m compileall -q tuimon

# System packages: only what is missing, installed once.
system:
	@missing=""; \
	command -v dumpcap >/dev/null || missing="$$missing tshark"; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	command -v tcpreplay >/dev/null || missing="$$missing tcpreplay"; \
	command -v tcpdump >/dev/null || missing="$$missing tcpdump"; \
	command -v iperf3 >/dev/null || missing="$$missing iperf3"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v conntrack >/dev/null || [ -x /usr/sbin/conntrack ] || missing="$$missing conntrack"; \
	command -v nft >/dev/null || [ -x /usr/sbin/nft ] || missing="$$missing nftables"; \
	command -v nfacct >/dev/null || [ -x /usr/sbin/nfacct ] || missing="$$missing nfacct"; \
	[ -f /etc/services ] || missing="$$missing netbase"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3"; \
	command -v cc >/dev/null || command -v gcc >/dev/null || missing="$$missing gcc"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv python3-pip"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  echo "wireshark-common wireshark-common/install-setuid boolean true" | $(SUDO) debconf-set-selections; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
	@# The fleet's peers the system tests start for real (docs/fleet.md): nfdump's nfcapd
	@# (IPFIX), a Prometheus server and promtool, a headless Chromium (tuimon web). Their
	@# tests skip with the reason when a package cannot be had (Ubuntu ships Chromium as a
	@# snap only), so a failure here is said and set-up goes on.
	@missing=""; \
	command -v nfcapd >/dev/null || missing="$$missing nfdump"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing the fleet's test peers:$$missing"; \
	  ( $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null ) || \
	  echo "could not install$$missing: the tests that need them skip"; \
	fi
	@# Ordinary users in the wireshark group may capture: dumpcap root:wireshark 754 with
	@# file capabilities. The answer is pre-seeded above for a fresh install; a tshark that
	@# was installed without it is reconfigured once, the same way.
	@dumpcap=$$(command -v dumpcap); \
	if [ -n "$$dumpcap" ] && dpkg -s wireshark-common >/dev/null 2>&1 && \
	   [ "$$(stat -c %G "$$dumpcap")" != wireshark ]; then \
	  echo "letting the wireshark group capture: dpkg-reconfigure wireshark-common"; \
	  echo "wireshark-common wireshark-common/install-setuid boolean true" | $(SUDO) debconf-set-selections; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) dpkg-reconfigure -f noninteractive wireshark-common || exit 1; \
	fi

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip  # a current pip resolves the install in half the time
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
