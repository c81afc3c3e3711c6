# Every target installs what it needs: a fresh clone needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
STAMP_ML := $(VENV)/.installed-ml
# Hashed lock files (docs/dependencies.md): base = [project] dependencies (the api image),
# dev = base + dev (make install, lint), ml = base + ml without torch (the worker image).
LOCKS  := requirements/base.lock requirements/dev.lock requirements/ml.lock
TORCH  := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
# An unset APP_ENV means production, which refuses the default JWT_SECRET (infra/settings.py):
# these are development targets (make run, the jobs next to it, the tests, the benchmarks).
ifeq ($(APP_ENV)$(NODE_ENV),)
export APP_ENV := development
endif

.PHONY: lock vendor-docs test-deps run test lint bench migrate reconcile reconcile-payments retention erase-accounts purge-quarantine outbox-retry topic-tail dlq-replay renew seed rebuild-recs admin worker api install install-ml clean

# Exactly the lock's versions and hashes, nothing resolved (--no-deps: the lock already holds
# every dependency, and pip's hash mode refuses an extra such as httpx[http2] otherwise), then
# the project itself; pip check fails when pyproject.toml changed without `make lock`.
$(STAMP): pyproject.toml requirements/dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements/dev.lock
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	@touch $@

# torch pinned and unhashed, alone (the local CPU wheel; from PyPI pip would pull the CUDA
# build); its own dependencies are in ml.lock, hashed.
$(STAMP_ML): $(STAMP) requirements/ml.lock
	$(PY) -m pip install -q --no-deps $(TORCH)
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements/dev.lock -r requirements/ml.lock
	$(PY) -m pip check
	@touch $@

# Regenerates the lock files from pyproject.toml (after adding or bumping a dependency; commit
# both). One resolution of everything first, then each lock constrained to it, so the three
# agree on every shared version. torch resolves against the local CPU wheel (find-links, as
# pip's) and is left out of the locks: with the CUDA build, nvidia-*/triton would appear.
LOCK_FIND_LINKS ?= $(PIP_FIND_LINKS)
UV_COMPILE = $(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --generate-hashes --no-emit-package torch \
	--custom-compile-command "make lock" --annotation-style line $(if $(LOCK_FIND_LINKS),--find-links $(LOCK_FIND_LINKS))
lock:
	@test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); \
		$(PY) -m pip install -q $$(grep -o '"uv==[^"]*"' pyproject.toml | tr -d '"'); }
	@mkdir -p requirements
	$(UV_COMPILE) --extra dev --extra ml -o requirements/.all.lock
	$(UV_COMPILE) -c requirements/.all.lock -o requirements/base.lock
	$(UV_COMPILE) -c requirements/.all.lock --extra dev -o requirements/dev.lock
	$(UV_COMPILE) -c requirements/.all.lock --extra ml -o requirements/ml.lock
	@rm -f requirements/.all.lock
	@! grep -EiH '^(torch|triton|nvidia-)' $(LOCKS) || { echo "torch or a CUDA package is in a lock: is the CPU torch wheel on LOCK_FIND_LINKS?"; exit 1; }

install: $(STAMP)
install-ml: $(STAMP_ML)

run: $(STAMP_ML)
	$(PY) -m infra.dev run

test: $(STAMP_ML) test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# What the tests need outside Python: Apollo's composition (npm, pinned by its lock file) for
# tests/platform/test_federation.py, headless Chromium for tests/platform/test_docs_offline.py.
FED_STAMP := tests/federation/node_modules/.installed
$(FED_STAMP): tests/federation/package-lock.json
	cd tests/federation && npm ci --no-audit --no-fund --silent
	@touch $@

test-deps: $(FED_STAMP)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "headless Chromium is missing: apt-get install chromium chromium-driver (as root)"; exit 1; fi; fi

# GraphiQL's browser build and React (api/static/graphiql/, served by GET /graphql offline), refreshed
# from npm at the versions named here; each keeps its licence next to it.
GRAPHIQL_VERSION := 3.8.3
REACT_VERSION := 18.3.1
vendor-docs:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && cd $$tmp && \
	npm pack --silent graphiql@$(GRAPHIQL_VERSION) react@$(REACT_VERSION) react-dom@$(REACT_VERSION) >/dev/null && \
	mkdir graphiql react react-dom && tar xzf graphiql-$(GRAPHIQL_VERSION).tgz -C graphiql && \
	tar xzf react-$(REACT_VERSION).tgz -C react && tar xzf react-dom-$(REACT_VERSION).tgz -C react-dom && \
	out=$(CURDIR)/api/static/graphiql && rm -rf $$out && mkdir -p $$out && \
	cp graphiql/package/graphiql.min.js graphiql/package/graphiql.min.css $$out/ && \
	cp react/package/umd/react.production.min.js react-dom/package/umd/react-dom.production.min.js $$out/ && \
	cp graphiql/package/LICENSE $$out/LICENSE.graphiql && cp react/package/LICENSE $$out/LICENSE.react && \
	cp react-dom/package/LICENSE $$out/LICENSE.react-dom && \
	printf 'graphiql %s\nreact %s\nreact-dom %s\n' $(GRAPHIQL_VERSION) $(REACT_VERSION) $(REACT_VERSION) > $$out/VERSIONS

# ruff (lint + format), mypy over models/, import-linter's layer and no-cycle contracts
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# A topic's last events, one line each (and its dead letters' count): make topic-tail TOPIC=content.posts N=20
topic-tail: $(STAMP)
	$(PY) -m jobs.topic_tail "$(TOPIC)" "$(N)"

# An agent's dead letters (<topic>.dlq) back to their source topics: make dlq-replay AGENT=counters [TOPIC=interactions.reactions]
dlq-replay: $(STAMP)
	$(PY) -m jobs.dlq_replay "$(AGENT)" $(if $(TOPIC),"$(TOPIC)")

bench: $(STAMP_ML)
	$(PY) -m tests.bench.run

migrate: $(STAMP)
	$(PY) -m infra.migrate

reconcile: $(STAMP)
	$(PY) -m jobs.reconcile_counters

# Top-ups and cashouts pending for 10 min+ settled by asking the providers: make reconcile-payments [OLDER_THAN=1h]
reconcile-payments: $(STAMP)
	$(PY) -m jobs.reconcile_payments $(if $(OLDER_THAN),--older-than $(OLDER_THAN))

# PDPL retention: audit log, notification dedupe rows, ended sessions, spent refresh tokens, stray OTP state (docs/privacy.md)
retention: $(STAMP)
	$(PY) -m jobs.retention

# PDPL erasure: accounts past their grace period (ERASURE_GRACE_DAYS) go to the worker's erasure agent (docs/privacy.md)
erase-accounts: $(STAMP)
	$(PY) -m jobs.erase_accounts

# Removed media past their appeal window leave object storage (docs/moderation.md); the CronJob runs it hourly
purge-quarantine: $(STAMP)
	$(PY) -m jobs.purge_quarantine

# Outbox rows the broker refused OUTBOX_MAX_ATTEMPTS times go back to the relay: make outbox-retry [TOPIC=content.posts]
outbox-retry: $(STAMP)
	$(PY) -m jobs.outbox_retry $(TOPIC)

# Renews due creator subscriptions (run it every few minutes: cron, or the k8s CronJob)
renew: $(STAMP)
	$(PY) -m jobs.renew_subscriptions

# A realistic dataset for load tests: make seed SEED_ARGS="--users 10000 --posts 100000"
seed: $(STAMP)
	$(PY) -m jobs.seed_dataset $(SEED_ARGS)

# Rebuilds user vectors and the video index (new collections, then an alias swap); resumable
rebuild-recs: $(STAMP_ML)
	$(PY) -m jobs.rebuild_recommendations

# Grants the admin role to an existing account: make admin EMAIL=someone@example.com
admin: $(STAMP)
	$(PY) -m jobs.make_admin "$(EMAIL)"

clean:
	rm -rf $(VENV) .pytest_cache
