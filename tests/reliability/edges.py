"""The edges of issue 18: each promise the features added last broke at an edge, the test that holds it now.

Rendered into ``docs/snippets/reliability/edges-table.txt`` by ``tests.reliability.report --write``;
``tests/reliability/test_report.py`` checks that the table is this list and that every test it names
exists. "Before" is what was reproduced on the code of 0.1.0 plus issues 9-13; "now" is what the test
asserts.
"""

from __future__ import annotations

from typing import NamedTuple


class Edge(NamedTuple):
    fault: str
    before: str
    now: str
    test: str  # a test id, path::name (without parameters)


EDGES = (
    Edge(
        "`force_fetch=True` with the `/tmp` shared cache on",
        "answered from the file: 1 STS call, not 2",
        "STS called, the file rewritten for the other processes",
        "tests/unit/test_execution_models.py::test_force_fetch_calls_sts_and_stores_with_the_shared_cache_on",
    ),
    Edge(
        "`max_age=0` with the shared cache on (provider and `sts`)",
        "3 gets, 1 call, a file written",
        "3 gets, 3 calls, no file read or written",
        "tests/unit/test_execution_models.py::test_max_age_zero_neither_reads_nor_writes_the_shared_cache",
    ),
    Edge(
        "A positive `max_age` across processes",
        "the file's older credentials served, the file re-read at every call",
        "older credentials refetched, then served from memory",
        "tests/unit/test_execution_models.py::test_a_positive_max_age_bounds_the_age_of_what_the_shared_cache_serves",
    ),
    Edge(
        "`clear_caches()` after a failure, STS healthy again",
        '`SharedBackoffError`, 0 calls, "failed in another process"',
        "1 call, credentials; the back-off names the process that failed and spares its own",
        "tests/unit/test_execution_models.py::test_after_clear_caches_a_failure_of_another_process_is_not_held_against_this_one",
    ),
    Edge(
        "A failed prefetch with the shared cache on (found attacking)",
        "the first invocation refused for 5 s with 0 calls",
        "the first invocation fetches again at once",
        "tests/unit/test_execution_models.py::test_a_failure_of_this_process_is_never_held_against_it_with_the_shared_cache",
    ),
    Edge(
        "No usable temporary directory (`/tmp` read-only or full)",
        "every AssumeRole failed with `FileNotFoundError`, 0 calls",
        "every fetch served, one warning per process",
        "tests/unit/test_execution_models.py::test_no_usable_temporary_directory_never_fails_a_fetch",
    ),
    Edge(
        "`AWS_LAMBDA_MAX_CONCURRENCY` off Lambda",
        "the `/tmp` cache and refresh ahead on",
        "both off unless the runtime's variables are set beside it",
        "tests/unit/test_execution_models.py::test_the_worker_count_alone_off_lambda_is_not_managed_instances",
    ),
    Edge(
        "`.tmp` files of a killed writer, files of old signing keys, lock files",
        "never removed",
        "swept at open and at most every 5 minutes on the write path",
        "tests/unit/test_shared_cache.py::test_opening_sweeps_what_no_process_reads_again",
    ),
    Edge(
        "A file holding credentials of another role",
        "served",
        "removed with a warning, STS called",
        "tests/unit/test_execution_models.py::test_credentials_of_another_role_in_the_shared_file_are_not_taken",
    ),
    Edge(
        "Refresh ahead of an entry read once, of a dropped provider",
        "re-assumed for ever: 5 calls in 40 s with 75 s credentials",
        "0 calls: refresh ahead is started by a read",
        "tests/unit/test_execution_models.py::test_refresh_ahead_only_refreshes_an_entry_read_since_its_last_fetch",
    ),
    Edge(
        "Powertools Metrics during background fetches and `log_metrics`",
        "32 `RuntimeError`s in 8 s inside the handler",
        "every metric added on the invocation's thread",
        "tests/unit/test_metrics.py::test_metrics_are_added_on_the_invocation_thread_only_and_a_background_fetch_at_the_next_invocation",
    ),
    Edge(
        "One failing observer (a broken span pipeline)",
        "the metrics silently dropped",
        "the failure logged, the metrics added",
        "tests/integration/test_otel.py::test_a_failing_span_pipeline_does_not_silence_the_metrics",
    ),
    Edge(
        "An AssumeRole answer cut inside `<SessionToken>`, OpenTelemetry on",
        "the SecretAccessKey in the `STS.AssumeRole` span",
        "no secret in any span, event, status, attribute or log record",
        "tests/integration/test_otel.py::test_no_span_or_log_record_holds_a_secret_whatever_sts_answers",
    ),
    Edge(
        "10 calls refused alike whatever the credentials (`InvalidClientTokenId`)",
        "10 AssumeRoles, 20 requests",
        "1 AssumeRole, 11 requests",
        "tests/unit/test_healing.py::test_a_refusal_new_credentials_cannot_cure_is_not_healed_again_for_a_while",
    ),
    Edge(
        "A call refused with a heal's credentials while that heal's retry is out (found attacking)",
        "a second heal: 2 AssumeRoles",
        "1 AssumeRole",
        "tests/unit/test_healing.py::test_a_call_refused_with_the_credentials_of_a_heal_still_on_trial_heals_nothing",
    ),
    Edge(
        "A client with keys of its own, refused",
        "resent with the same keys, a false log line and metric",
        "1 request, no retry, no log line, no metric",
        "tests/unit/test_healing.py::test_a_client_with_keys_of_its_own_is_not_healed",
    ),
    Edge(
        "`sts_stub` with the shared cache on",
        "the next test raised `SharedBackoffError`; a second session served the first one's credentials",
        "nothing read from or written to `/tmp`",
        "tests/unit/test_testing_plugin.py::test_stub_answers_and_failures_never_reach_the_shared_cache",
    ),
    Edge(
        '`-p powertools_sts.testing`, `pytest_plugins = ["powertools_sts.testing"]`',
        '"Plugin already registered under a different name"',
        "both load the plugin",
        "tests/unit/test_testing_plugin.py::test_the_plugin_loads_by_its_module_name",
    ),
    Edge(
        "A hub name no layer around the chained one defines",
        "`ConfigurationError`",
        "the one entry in the process that bears it signs",
        "tests/unit/test_middleware.py::test_a_hub_name_outside_the_layers_around_resolves_to_the_one_entry_that_bears_it",
    ),
    Edge(
        "`get_session(name)` with no region, `boto3_session` in another region",
        "the process's region",
        "the region of `boto3_session`",
        "tests/unit/test_middleware.py::test_get_session_without_a_region_takes_the_region_of_the_session_given_to_sts",
    ),
)
