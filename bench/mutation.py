"""Mutation testing of the modules where a wrong number hurts users, with mutmut (pinned 3.8.1).

    python bench/mutation.py [--module SUBSTRING ...] [--jobs N] [--workdir DIR] [--list]
                             [--sample N [--seed S]]
    python bench/mutation.py --examples [NAME ...]

Not part of CI: it is slow. Each module in TARGETS (the table: bench/mutation_targets.py) is mutated in a session of its own, in a
scratch copy of the repository (``--workdir``, default a temporary folder; the work tree is never
touched), against only the fast tests that exercise it (TARGETS' test list, SQLite half only:
the rules do not differ between databases). Within that list mutmut runs each mutant against
just the tests that called the mutated function (it records who calls what in a first clean
run). Mutants are forked from one warm pytest process, ``--jobs`` at a time (default 1: the
machine's 2 cores are shared).

What mutmut changes: operators, comparisons, numbers, strings, keyword arguments and return
values *inside functions*. It leaves module-level constants alone (GRAVITY, MIN_COSINE,
SHORT_QUERY_WORDS...: tests/test_rules_*.py pin those by their effect) and functions with a
decorator (the FastAPI route functions themselves: their parameter handling is mutated through
the helpers they call, listed in ``functions``).

Prints, per module: killed / survived / timed out / without tests, the mutants left out as
equivalent (EQUIVALENT: a reason each), and every survivor's diff. The baseline, measured in
the same run, is the clean run of the selected tests. Ends with

    mutation_score: N % (target ≥ 85 % on those modules)

(killed + timed out over all non-equivalent mutants) and exits 1 when the target is missed, 2
when a session could not run.

Last measured (2026-11-30, 2 shared cores; killed / survived / timed out / equivalent, score
over the non-equivalent mutants; "sample" = ``--sample N``, seed 13, for the slow modules):

    module                      mutants         killed  surv.  t/o  equiv.  score
    rank/trending.py            (issue 13's first run)                       100 %
    web/params.py               208             201     0      0    7       100 %
    index/query.py              411             395     0      11   5       100 %
    catalog.py                  sample 120      117     0      0    3       100 %
    ingest/service.py           sample 150      142     0      0    8       100 %
    index/search.py             sample 100+14   104     0      0    10      100 %
    web/routes_search.py        116 (5 helpers) 116     0      0    0       100 %
    web/routes_pages.py         98 (3 helpers)  94      4      0    0       95.9 %

First runs, before the tests/test_rules_* files written for their survivors: params.py 14.9 %
(its OpenAPI helpers run only at import, before mutmut's fork: tests call them directly now),
query.py 96.6 %, catalog.py 97.5 %, service.py 83.3 %, search.py 69 %, routes_search.py 99.1 %,
routes_pages.py 75.5 % (its navigation links). search.py's sample is 100 drawn plus each
function's first mutant (the first pass). Timed-out mutants are loops that never end
(query._tokens' ``i = 1``, ``j -= 1``...): the run is stopped, which counts as caught. After
writing tests for a module's survivors, ``--recheck --workdir DIR`` runs just those again.

``--examples`` runs instead the hand-written one-line mutations of issue 13 (and later ones,
EXAMPLES: the wrong numbers users would notice), each in a scratch copy against the test file
meant to catch it, and prints CAUGHT or MISSED per mutation with the failing test; exit 1 if
any is missed. mutmut cannot make some of them (module constants, decorated routes, settings
plumbing), hence this list.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mutation_targets import EQUIVALENT, EQUIVALENT_PATTERNS, EXAMPLES, TARGETS, Target

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DAILYPAPERS_SHARED_DATA", REPO.parent / "shared" / "data"))
MUTMUT = Path(sys.executable).with_name("mutmut")
TARGET_SCORE = 85.0
CAUGHT = ("killed", "timeout")


def prepare(workdir: Path, target: Target) -> None:
    """A scratch copy: the package, the tests, and pyproject.toml with this session's config."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "dailypapers", workdir / "dailypapers", ignore=ignore)
    shutil.copytree(REPO / "tests", workdir / "tests", ignore=ignore)
    pyproject = (REPO / "pyproject.toml").read_text()
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject)
    config = {
        "source_paths": ["dailypapers"],
        "only_mutate": [target.module],
        "pytest_add_cli_args": ["-q", "-p", "no:cacheprovider", "-k", target.keyword],
        "pytest_add_cli_args_test_selection": target.tests,
        "use_git_change_detection": False,
        "timeout_constant": target.timeout_constant,
        "timeout_multiplier": target.timeout_multiplier,
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    (workdir / "pyproject.toml").write_text(pyproject + "\n".join(lines) + "\n")


def mutant_patterns(target: Target) -> list[str]:
    dotted = target.module.removesuffix(".py").replace("/", ".")
    return [f"{dotted}.x_{name}__mutmut_*" for name in target.functions]


def mutmut(workdir: Path, *args: str,
           timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the scratch copy only
    env["DAILYPAPERS_SHARED_DATA"] = str(SHARED_DATA)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return subprocess.run([str(MUTMUT), *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)


@dataclass
class ModuleResult:
    target: Target
    statuses: dict[str, str]
    equivalent: dict[str, str]  # mutant name -> reason
    diffs: dict[str, str]  # survivors' diffs
    seconds: float
    clean_seconds: float | None
    sample: int | None = None
    seed: int | None = None

    def count(self, *kinds: str) -> int:
        return sum(1 for name, s in self.statuses.items()
                   if s in kinds and name not in self.equivalent)

    @property
    def scored(self) -> int:
        return sum(1 for name in self.statuses if name not in self.equivalent)


def mutated_line(diff: str) -> str:
    added = [line[1:].strip() for line in diff.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    return added[0] if added else ""


def _listing(workdir: Path, target: Target) -> dict[str, str]:
    statuses = {}
    for line in mutmut(workdir, "results", "--all", "true").stdout.splitlines():
        name, _, status = line.strip().partition(": ")
        if name and (not target.functions
                     or any(fnmatch.fnmatch(name, p) for p in mutant_patterns(target))):
            statuses[name] = status
    return statuses


def _run_mutmut(workdir: Path, target: Target, jobs: int, names: list[str]) -> None:
    done = mutmut(workdir, "run", "--max-children", str(jobs), *names)
    with (workdir / "mutmut-run.log").open("a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"mutmut run failed for {target.module}:\n" + "\n".join(tail))


def run_target(target: Target, workdir: Path, jobs: int, sample: int | None = None,
               seed: int = 13) -> ModuleResult:
    """Every mutant of the target, or with ``sample`` that many of them drawn with ``seed``
    (the same draw for the same mutants): a first pass generates the mutants and runs only
    each function's first one, the second runs the draw."""
    prepare(workdir, target)
    started = time.perf_counter()
    if sample is None:
        _run_mutmut(workdir, target, jobs, mutant_patterns(target))
        statuses = _listing(workdir, target)
    else:
        dotted = target.module.removesuffix(".py").replace("/", ".")
        firsts = [p.replace("__mutmut_*", "__mutmut_1") for p in mutant_patterns(target)]
        _run_mutmut(workdir, target, jobs, firsts or [f"{dotted}.*__mutmut_1"])
        every = _listing(workdir, target)
        drawn = sorted(random.Random(seed).sample(sorted(every), min(sample, len(every))))
        _run_mutmut(workdir, target, jobs, drawn)
        statuses = {name: status for name, status in _listing(workdir, target).items()
                    if name in drawn}
    seconds = time.perf_counter() - started
    return _result(target, workdir, statuses, seconds, sample, seed)


def recheck_target(target: Target, workdir: Path, jobs: int) -> ModuleResult:
    """The survivors of an earlier run in ``workdir`` run again against the tests as they are
    now (copied in); every other mutant keeps its earlier status."""
    if not (workdir / "mutants").exists():
        raise RuntimeError(f"no earlier run of {target.module} in {workdir}")
    for folder in (workdir / "tests", workdir / "mutants" / "tests"):
        shutil.rmtree(folder)
        shutil.copytree(REPO / "tests", folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = _listing(workdir, target)
    started = time.perf_counter()
    survivors = sorted(name for name, status in before.items() if status == "survived")
    if survivors:
        _run_mutmut(workdir, target, jobs, survivors)
    statuses = {name: status for name, status in _listing(workdir, target).items()
                if name in before and before[name] != "not checked"}
    return _result(target, workdir, statuses, time.perf_counter() - started, None, None)


def _result(target: Target, workdir: Path, statuses: dict[str, str], seconds: float,
            sample: int | None, seed: int | None) -> ModuleResult:
    equivalent, diffs = {}, {}
    for name, status in statuses.items():
        if status in CAUGHT:
            continue
        diff = mutmut(workdir, "show", name).stdout
        line = mutated_line(diff)
        reason = EQUIVALENT.get((target.module, line)) or next(
            (why for (module, pattern), why in EQUIVALENT_PATTERNS.items()
             if module == target.module and re.search(pattern, line)), None)
        if reason:
            equivalent[name] = reason
        else:
            diffs[name] = diff
    stats = workdir / "mutants" / "mutmut-stats.json"
    clean = None
    if stats.exists():
        durations = json.loads(stats.read_text()).get("duration_by_test", {})
        clean = sum(durations.values()) if durations else None
    return ModuleResult(target, statuses, equivalent, diffs, seconds, clean, sample, seed)


def report(result: ModuleResult) -> None:
    t = result.target
    scope = f" (functions: {', '.join(t.functions)})" if t.functions else ""
    print(f"== {t.module}{scope}")
    print(f"   tests: {' '.join(t.tests)}")
    baseline = f"{result.clean_seconds:.1f} s" if result.clean_seconds is not None else "n/a"
    drawn = f" (a sample of {result.sample}, seed {result.seed})" if result.sample else ""
    print(f"   {len(result.statuses)} mutants{drawn} in {result.seconds:.0f} s "
          f"(baseline: one clean run of the selected tests {baseline})")
    print(f"   killed {result.count('killed')}, survived {result.count('survived')}, "
          f"timed out {result.count('timeout')}, without tests {result.count('no tests')}, "
          f"other {result.scored - result.count('killed', 'survived', 'timeout', 'no tests')}, "
          f"equivalent {len(result.equivalent)}")
    for name, reason in result.equivalent.items():
        print(f"   equivalent {name.rsplit('.', 1)[-1]}: {reason}")
    for name, diff in result.diffs.items():
        print(f"   -- {result.statuses[name]}: {name}")
        for line in diff.splitlines():
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                print(f"      {line}")


def run_examples(root: Path, names: list[str]) -> int:
    missed = 0
    for name, path, tests, old, new in EXAMPLES:
        if names and not any(n in name for n in names):
            continue
        work = root / "example"
        if work.exists():
            shutil.rmtree(work)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for folder in ("dailypapers", "tests"):
            shutil.copytree(REPO / folder, work / folder, ignore=ignore)
        shutil.copy(REPO / "pyproject.toml", work)
        source = work / path
        text = source.read_text()
        if text.count(old) != 1:
            print(f"STALE   {name}: the text to mutate is no longer in {path} exactly once")
            missed += 1
            continue
        source.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": str(work), "DAILYPAPERS_SHARED_DATA": str(SHARED_DATA)}
        done = subprocess.run([str(Path(sys.executable).with_name("pytest")), "-x", "-q", "-p",
                               "no:cacheprovider", "-k", "not postgresql", tests], cwd=work,
                              env=env, capture_output=True, text=True)
        failed = [line[7:] for line in done.stdout.splitlines() if line.startswith("FAILED ")]
        if done.returncode == 1 and failed:
            print(f"CAUGHT  {name}: {failed[0].split(' - ')[0]}", flush=True)
        else:
            missed += 1
            print(f"MISSED  {name} (pytest exit {done.returncode})", flush=True)
    print(f"examples_missed: {missed} (target 0)")
    return 1 if missed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", default=[],
                        help="only targets whose path contains this (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="only N mutants per module, drawn with --seed (for slow modules)")
    parser.add_argument("--seed", type=int, default=13, help="the draw's seed (default 13)")
    parser.add_argument("--recheck", action="store_true",
                        help="in --workdir's earlier run, run the survivors again against the "
                             "current tests (after writing tests for them)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--examples", nargs="*", metavar="NAME",
                        help="run the hand-written mutations of EXAMPLES (or those named)")
    args = parser.parse_args()
    if args.examples is not None:
        root = args.workdir or Path(tempfile.mkdtemp(prefix="dailypapers-mutation-"))
        return run_examples(root, args.examples)
    targets = [t for t in TARGETS if not args.module or any(m in t.module for m in args.module)]
    if args.list or not targets:
        for t in TARGETS:
            print(f"{t.module}: {' '.join(t.tests)}")
        return 0 if targets else 2
    if not MUTMUT.exists():
        print(f"mutmut not found next to {sys.executable}: pip install 'mutmut==3.8.1'")
        return 2
    root = args.workdir or Path(tempfile.mkdtemp(prefix="dailypapers-mutation-"))
    results = []
    for target in targets:
        workdir = root / target.module.replace("/", "_").removesuffix(".py")
        try:
            if args.recheck:
                results.append(recheck_target(target, workdir, args.jobs))
            else:
                results.append(run_target(target, workdir, args.jobs, args.sample, args.seed))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(exc)
            return 2
        report(results[-1])
    caught = sum(r.count(*CAUGHT) for r in results)
    scored = sum(r.scored for r in results)
    score = 100.0 * caught / scored if scored else 0.0
    print(f"modules: {', '.join(r.target.module for r in results)}; scratch copies in {root}")
    print(f"mutation_score: {score:.1f} % (target ≥ {TARGET_SCORE:.0f} % on those modules)")
    return 0 if score >= TARGET_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
