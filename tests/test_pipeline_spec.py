"""The ``[[phases]]`` canary shape: what loads, and a malformed pipeline named by file,
line and field — the same errors collection and ``agentbench validate`` report."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_agentbench.schemas.canary import CanaryError, load_canary

TAIL = '\n[verify]\nrun = ["true"]\n'


def write(tmp_path, body: str, files: dict | None = None):
    (tmp_path / "repo").mkdir(exist_ok=True)
    (tmp_path / "repo" / "a.py").write_text("A = 1\n")
    for name, content in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    path = tmp_path / "canary.toml"
    path.write_text(textwrap.dedent(body) + TAIL)
    return path


GOOD = """\
tier = "heavy"
language = "en"
[[phases]]
name = "explore"
prompt = "Map it."
tools = ["read_file", "list_dir", "grep", "glob"]
output_schema = "schemas/explore.json"
max_json_retries = 2
[phases.budget]
turns = 8
[phases.claims]
files_examined = "files"
commands_run = "commands"
[[phases]]
name = "implement"
prompt = "Implement this hypothesis: {{explore}}"
writes = true
regression_gate = true
"""
SCHEMA = json.dumps({"type": "object", "required": ["files_examined"]})


def test_a_pipeline_loads(tmp_path):
    canary = load_canary(write(tmp_path, GOOD, {"schemas/explore.json": SCHEMA}))
    explore, implement = canary.phases
    assert canary.prompt == "pipeline: explore → implement"  # the record's prompt
    assert explore.tool_names == ["read_file", "list_dir", "grep", "glob"] and not explore.writes
    assert explore.budget.turns == 8 and explore.max_json_retries == 2
    assert explore.resolved_schema == json.loads(SCHEMA)
    assert explore.claims == {"files_examined": "files", "commands_run": "commands"}
    assert implement.writes and implement.regression_gate and "write_file" in implement.tool_names
    assert implement.placeholders() == ["explore"] and implement.resolved_schema is None


def test_default_tools_of_a_read_only_phase_do_not_write(tmp_path):
    canary = load_canary(write(tmp_path, 'tier = "lite"\n[[phases]]\nname = "look"\nprompt = "Look."\n'))
    assert canary.phases[0].tool_names == ["read_file", "list_dir", "glob", "grep", "shell"]


@pytest.mark.parametrize(("body", "expected"), [
    (GOOD.replace("{{explore}}", "{{audit}}"),
     "canary.toml:16: field 'phases[implement].prompt': {{audit}} names no phase of that name"),
    (GOOD.replace('prompt = "Map it."', 'prompt = "Map it, after {{implement}}."'),
     "canary.toml:5: field 'phases[explore].prompt': {{implement}} names a later phase"),
    (GOOD.replace('tools = ["read_file", "list_dir", "grep", "glob"]', 'tools = ["read_file", "write_file"]'),
     "canary.toml:6: field 'phases[explore].tools': ['write_file'] in a phase with writes = false"),
    (GOOD.replace("turns = 8", "turns = 0"),
     "canary.toml:10: field 'phases[explore].budget.turns': Input should be greater than 0"),
    (GOOD.replace("max_json_retries = 2", "max_json_retries = 2\ncolour = 1"),
     "canary.toml:9: field 'phases[explore].colour': unknown field"),
    (GOOD.replace('"schemas/explore.json"', '"schemas/missing.json"'),
     "canary.toml:7: field 'phases[explore].output_schema': schema file 'schemas/missing.json' not found"),
    (GOOD.replace('"schemas/explore.json"', '{ type = 12 }'),
     "canary.toml:7: field 'phases[explore].output_schema': not a valid JSON Schema"),
    (GOOD.replace('name = "implement"', 'name = "explore"'),
     "canary.toml:15: field 'phases[explore].name': duplicate phase name 'explore'"),
    (GOOD.replace('writes = true\n', ''),
     "canary.toml:17: field 'phases[implement].regression_gate': needs writes = true"),
    (GOOD.replace('commands_run = "commands"', 'commands_run = "shell"'),
     "canary.toml:13: field 'phases[explore].claims.commands_run': Input should be 'files' or 'commands'"),
    (GOOD.replace('language = "en"', 'language = "english"'),
     "canary.toml:2: field 'language': an ISO 639-1 code"),
    (GOOD + '[iteration]\ndistinct = "explore.axis"\n',
     "field 'iteration.distinct': phase 'explore' must list the recent values: put {{recent}} in its prompt"),
    (GOOD.replace('language = "en"', 'language = "en"\niterations = 2') + '[iteration]\ncarry = "reflect.seeds"\n',
     "field 'iteration.carry': 'reflect.seeds': no phase named 'reflect'"),
    ('tier = "lite"\nprompt = "x"\niterations = 3\n', "canary.toml:3: field 'iterations': only for a canary with [[phases]]"),
    ('tier = "lite"\n[[phases]]\nname = "a b"\nprompt = "x"\n', "canary.toml:3: field 'phases[a b].name': must be a simple name"),
    ('tier = "lite"\n[[phases]]\nname = "prompt"\nprompt = "x"\n', "field 'phases[prompt].name': 'prompt' is reserved"),
    ('tier = "lite"\ntools = ["shell"]\n[[phases]]\nname = "a"\nprompt = "x"\n',
     "canary.toml:2: field 'tools': a pipeline's tools are per phase"),
    ('tier = "lite"\n[[phases]]\nname = "a"\nprompt = "{{prompt}}"\n',
     "field 'phases[a].prompt': {{prompt}} but the canary has no top-level prompt"),
    (GOOD.replace("regression_gate = true", 'regression_gate = true\nskip_to = "explore"'),
     "canary.toml:19: field 'phases[implement].skip_to': 'explore' names an earlier phase or itself"),
    (GOOD.replace("regression_gate = true", 'regression_gate = true\nskip_to = "reflect"'),
     "canary.toml:19: field 'phases[implement].skip_to': 'reflect' names no phase of that name"),
    (GOOD.replace("max_json_retries = 2", 'max_json_retries = 2\nskip_to = "implement"'),
     "canary.toml:9: field 'phases[explore].skip_to': needs writes = true"),
    (GOOD.replace("regression_gate = true", 'regression_gate = true\nreprompt_on = ["invalid_paths"]'),
     "canary.toml:19: field 'phases[implement].reprompt_on': needs an output_schema"),
    (GOOD.replace("max_json_retries = 2", 'max_json_retries = 2\nreprompt_on = ["repeated"]'),
     "field 'phases[explore].reprompt_on': 'repeated' needs iteration.distinct naming a field of this phase"),
    (GOOD.replace('prompt = "Map it."', 'prompt = "  "'),
     "canary.toml:5: field 'phases[explore].prompt': prompt must not be empty"),
    ('tier = "lite"\nprompt = " "\n', "canary.toml:2: field 'prompt': prompt must not be empty"),
    (GOOD.replace("max_json_retries = 2", 'max_json_retries = 2\nreprompt_on = ["typos"]'),
     "field 'phases[explore].reprompt_on.0': Input should be"),
])
def test_a_malformed_pipeline_names_file_line_and_field(tmp_path, body, expected):
    with pytest.raises(CanaryError) as info:
        load_canary(write(tmp_path, body, {"schemas/explore.json": SCHEMA}))
    assert expected in str(info.value), str(info.value)
    assert str(tmp_path / "canary.toml") in str(info.value)


def test_a_canary_without_prompt_or_phases_still_says_prompt_is_required(tmp_path):
    with pytest.raises(CanaryError, match="field 'prompt': Field required"):
        load_canary(write(tmp_path, 'tier = "lite"\n'))


def test_a_top_level_prompt_is_the_pipelines_task(tmp_path):
    canary = load_canary(write(tmp_path, 'tier = "lite"\nprompt = "Add X."\n[[phases]]\nname = "a"\nprompt = "Task: {{prompt}}"\n'))
    assert canary.prompt == "Add X." and canary.phases[0].placeholders() == ["prompt"]


def test_a_malformed_pipeline_is_a_collection_error(bench):
    bench.canary("broken", toml='tier = "lite"\n[[phases]]\nname = "a"\nprompt = "{{b}}"\n[verify]\nrun = ["true"]\n')
    result = bench.pytester.runpytest("canaries", "--models", "m@http://127.0.0.1:9/v1", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*ERROR collecting canaries/broken/canary.toml*",
                                 "*canary.toml:4: field 'phases?a?.prompt': {{b}} names no phase of that name*"])


def test_a_pipelines_schema_files_are_part_of_its_content_hash(tmp_path):
    import shutil

    from pytest_agentbench.schemas import canary as canary_module

    source = canary_module.Path(__file__).parent.parent / "canaries" / "heavy" / "self-improve"
    copy = tmp_path / "self-improve"
    shutil.copytree(source, copy)
    before = load_canary(copy / "canary.toml").content_hash
    schema = copy / "schemas" / "explore.json"
    schema.write_text(schema.read_text().replace('"required"', '"required" ', 1) + "\n")
    canary_module._CONTENT_HASHES.clear()  # one digest per canary and process, as in a run
    assert load_canary(copy / "canary.toml").content_hash != before
