// Draft store schema (issue 17, with the call records of issue 16), as versioned migrations.
// The PostgreSQL text is THE schema: PostgreSQL and PGlite (Postgres compiled to WASM) run it
// unchanged. The SQLite text is the same tables translated, kept beside it so the differences are
// visible in one place; README "The store" says why there are two and what it costs.
//
// Units (invariant 4): money is integer nano-units of the policy's currency; times are unix ns;
// usage is ns, byte-seconds, bytes, µs and tokens. One call's cost fits BIGINT (9.2e9 currency
// units); sums use NUMERIC(38,0), because a month of a whole policy in a currency such as VND or
// IDR passes 9.2e9 units (2^63 nano) at a few hundred thousand USD.

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly postgres: string;
  readonly sqlite: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'cursors-sums-sessions-calls-rollups',
    postgres: `
-- Where collection stands on each agent's ledger; updated in the transaction that applies the
-- entries it covers, so sums and cursor can never disagree (exactly once, invariant 2).
CREATE TABLE ledger_cursors (
  node        text   PRIMARY KEY,
  agent_id    text   NOT NULL,
  last_seq    bigint NOT NULL CHECK (last_seq >= 0),
  last_hash   text   NOT NULL CHECK (last_hash ~ '^[0-9a-f]{64}$'),
  updated_ns  bigint NOT NULL
);

-- Per budget, per period, per scope key ('' for Policy scope, the namespace, or
-- "namespace/session-id"). Status reads the top entries and the count; enforcement reads one key.
CREATE TABLE budget_sums (
  policy           text          NOT NULL,
  budget           text          NOT NULL,
  period_start_ns  bigint        NOT NULL,
  scope_key        text          NOT NULL,
  spend_nano       numeric(38,0) NOT NULL,
  PRIMARY KEY (policy, budget, period_start_ns, scope_key)
);
CREATE INDEX budget_sums_top ON budget_sums (policy, budget, period_start_ns, spend_nano DESC);

-- Distinct allocation-tag sets (cost centers) as recorded by the agent at measurement time. A
-- call or a rollup row names its set by id; members make "group by tag NAME" a join.
CREATE TABLE tag_sets (
  id    integer PRIMARY KEY,
  tags  text    NOT NULL UNIQUE  -- canonical JSON object, keys sorted
);
CREATE TABLE tag_set_members (
  tag_set  integer NOT NULL REFERENCES tag_sets (id),
  key      text    NOT NULL,
  value    text    NOT NULL,
  PRIMARY KEY (tag_set, key)
);

-- One row per session per UTC day: what "session NS/ID" and "sessions --period A..B" read.
CREATE TABLE session_totals (
  namespace            text          NOT NULL,
  session_id           text          NOT NULL,
  day                  integer       NOT NULL,  -- unix day (UTC)
  infra_nano           numeric(38,0) NOT NULL,
  tokens_nano          numeric(38,0) NOT NULL,
  tools_nano           numeric(38,0) NOT NULL,
  apis_nano            numeric(38,0) NOT NULL,
  total_nano           numeric(38,0) NOT NULL,
  calls                bigint        NOT NULL,
  unpriced_calls       bigint        NOT NULL,
  input_tokens         bigint        NOT NULL,
  output_tokens        bigint        NOT NULL,
  cache_read_tokens    bigint        NOT NULL,
  cpu_ns               bigint        NOT NULL,
  memory_byte_seconds  bigint        NOT NULL,
  first_ns             bigint        NOT NULL,
  last_ns              bigint        NOT NULL,
  PRIMARY KEY (namespace, session_id, day)
);
CREATE INDEX session_totals_day ON session_totals (day);

-- Every leaf call (issue 16). Deduplicated on (trace id, span id); no prompt, response or URL.
CREATE TABLE calls (
  trace_id               bytea    NOT NULL CHECK (length(trace_id) = 16),
  span_id                bytea    NOT NULL CHECK (length(span_id) = 8),
  parent_span_id         bytea,
  start_ns               bigint   NOT NULL,
  end_ns                 bigint   NOT NULL CHECK (end_ns >= start_ns),
  namespace              text     NOT NULL,
  session_id             text,
  pod                    text     NOT NULL,
  kind                   text     NOT NULL CHECK (kind IN ('model', 'tool', 'api')),
  operation              text     NOT NULL,
  provider               text,
  model                  text,
  tool_name              text,
  tool_type              text,
  api_host               text,
  input_tokens           bigint   NOT NULL DEFAULT 0,
  output_tokens          bigint   NOT NULL DEFAULT 0,
  cache_read_tokens      bigint   NOT NULL DEFAULT 0,
  cache_creation_tokens  bigint   NOT NULL DEFAULT 0,
  reasoning_tokens       bigint   NOT NULL DEFAULT 0,
  error_type             text,
  cost_nano              bigint,            -- null: unpriced, with the reason
  unpriced_reason        text,
  policy                 text     NOT NULL,
  policy_generation      bigint   NOT NULL,
  tag_set                integer  NOT NULL REFERENCES tag_sets (id),
  PRIMARY KEY (trace_id, span_id),
  CHECK ((cost_nano IS NULL) = (unpriced_reason IS NOT NULL))
);
CREATE INDEX calls_session ON calls (namespace, session_id, start_ns);
-- Rows arrive in time order, so a BRIN index finds a day's rows for retention at ~no cost.
CREATE INDEX calls_start ON calls USING brin (start_ns);

-- Per UTC day, policy, namespace, tag set and item (model, tool, API host, or '' for
-- infrastructure): what reports, chargeback and FOCUS exports read. Kept far longer than calls.
CREATE TABLE daily_rollups (
  day            integer       NOT NULL,
  policy         text          NOT NULL,
  namespace      text          NOT NULL,
  tag_set        integer       NOT NULL REFERENCES tag_sets (id),
  kind           text          NOT NULL CHECK (kind IN ('infra', 'model', 'tool', 'api')),
  item           text          NOT NULL,
  cost_nano      numeric(38,0) NOT NULL,
  calls          bigint        NOT NULL,
  input_tokens   bigint        NOT NULL,
  output_tokens  bigint        NOT NULL,
  PRIMARY KEY (day, policy, namespace, tag_set, kind, item)
);
`,
    sqlite: `
CREATE TABLE ledger_cursors (
  node        TEXT    PRIMARY KEY,
  agent_id    TEXT    NOT NULL,
  last_seq    INTEGER NOT NULL CHECK (last_seq >= 0),
  last_hash   TEXT    NOT NULL CHECK (length(last_hash) = 64),
  updated_ns  INTEGER NOT NULL
) STRICT;
CREATE TABLE budget_sums (
  policy           TEXT    NOT NULL,
  budget           TEXT    NOT NULL,
  period_start_ns  INTEGER NOT NULL,
  scope_key        TEXT    NOT NULL,
  spend_nano       INTEGER NOT NULL,
  PRIMARY KEY (policy, budget, period_start_ns, scope_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX budget_sums_top ON budget_sums (policy, budget, period_start_ns, spend_nano DESC);
CREATE TABLE tag_sets (
  id    INTEGER PRIMARY KEY,
  tags  TEXT    NOT NULL UNIQUE
) STRICT;
CREATE TABLE tag_set_members (
  tag_set  INTEGER NOT NULL REFERENCES tag_sets (id),
  key      TEXT    NOT NULL,
  value    TEXT    NOT NULL,
  PRIMARY KEY (tag_set, key)
) STRICT, WITHOUT ROWID;
CREATE TABLE session_totals (
  namespace            TEXT    NOT NULL,
  session_id           TEXT    NOT NULL,
  day                  INTEGER NOT NULL,
  infra_nano           INTEGER NOT NULL,
  tokens_nano          INTEGER NOT NULL,
  tools_nano           INTEGER NOT NULL,
  apis_nano            INTEGER NOT NULL,
  total_nano           INTEGER NOT NULL,
  calls                INTEGER NOT NULL,
  unpriced_calls       INTEGER NOT NULL,
  input_tokens         INTEGER NOT NULL,
  output_tokens        INTEGER NOT NULL,
  cache_read_tokens    INTEGER NOT NULL,
  cpu_ns               INTEGER NOT NULL,
  memory_byte_seconds  INTEGER NOT NULL,
  first_ns             INTEGER NOT NULL,
  last_ns              INTEGER NOT NULL,
  PRIMARY KEY (namespace, session_id, day)
) STRICT, WITHOUT ROWID;
CREATE INDEX session_totals_day ON session_totals (day);
CREATE TABLE calls (
  trace_id               BLOB    NOT NULL CHECK (length(trace_id) = 16),
  span_id                BLOB    NOT NULL CHECK (length(span_id) = 8),
  parent_span_id         BLOB,
  start_ns               INTEGER NOT NULL,
  end_ns                 INTEGER NOT NULL CHECK (end_ns >= start_ns),
  namespace              TEXT    NOT NULL,
  session_id             TEXT,
  pod                    TEXT    NOT NULL,
  kind                   TEXT    NOT NULL CHECK (kind IN ('model', 'tool', 'api')),
  operation              TEXT    NOT NULL,
  provider               TEXT,
  model                  TEXT,
  tool_name              TEXT,
  tool_type              TEXT,
  api_host               TEXT,
  input_tokens           INTEGER NOT NULL DEFAULT 0,
  output_tokens          INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens      INTEGER NOT NULL DEFAULT 0,
  cache_creation_tokens  INTEGER NOT NULL DEFAULT 0,
  reasoning_tokens       INTEGER NOT NULL DEFAULT 0,
  error_type             TEXT,
  cost_nano              INTEGER,
  unpriced_reason        TEXT,
  policy                 TEXT    NOT NULL,
  policy_generation      INTEGER NOT NULL,
  tag_set                INTEGER NOT NULL REFERENCES tag_sets (id),
  PRIMARY KEY (trace_id, span_id),
  CHECK ((cost_nano IS NULL) = (unpriced_reason IS NOT NULL))
) STRICT;
CREATE INDEX calls_session ON calls (namespace, session_id, start_ns);
CREATE INDEX calls_start ON calls (start_ns);
CREATE TABLE daily_rollups (
  day            INTEGER NOT NULL,
  policy         TEXT    NOT NULL,
  namespace      TEXT    NOT NULL,
  tag_set        INTEGER NOT NULL REFERENCES tag_sets (id),
  kind           TEXT    NOT NULL CHECK (kind IN ('infra', 'model', 'tool', 'api')),
  item           TEXT    NOT NULL,
  cost_nano      INTEGER NOT NULL,
  calls          INTEGER NOT NULL,
  input_tokens   INTEGER NOT NULL,
  output_tokens  INTEGER NOT NULL,
  PRIMARY KEY (day, policy, namespace, tag_set, kind, item)
) STRICT, WITHOUT ROWID;
`,
  },
];

/** Bookkeeping table of applied versions; the same text runs on every engine. */
export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version     integer PRIMARY KEY,
  name        text    NOT NULL,
  applied_ns  bigint  NOT NULL
)`;
