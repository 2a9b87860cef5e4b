#!/usr/bin/env python3
"""The docs are checked like code (issue 13, point 2):
  - docs/reference.md is exactly what `simfuse config doc --markdown` prints (regenerate
    with: build/bin/simfuse config doc --markdown > docs/reference.md);
  - every relative link in docs/*.md and README.md names a file that exists;
  - every YAML block in docs/ that is a case (it has grid: and solver:) passes
    `simfuse config validate`.
Usage: check_docs.py SIMFUSE REPO_ROOT
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml


def main():
    simfuse, repo = sys.argv[1], os.path.abspath(sys.argv[2])
    env = {k: v for k, v in os.environ.items() if k != "SIMFUSE_PLUGIN_PATH"}
    problems = []
    r = subprocess.run([simfuse, "config", "doc", "--markdown"], capture_output=True, text=True, env=env)
    ref = open(os.path.join(repo, "docs", "reference.md")).read()
    if r.returncode != 0 or r.stdout != ref:
        problems.append("docs/reference.md is out of date: regenerate it with "
                        "build/bin/simfuse config doc --markdown > docs/reference.md")
    pages = [os.path.join(repo, "README.md")] + [os.path.join(repo, "docs", f)
                                                 for f in sorted(os.listdir(os.path.join(repo, "docs")))
                                                 if f.endswith(".md")]
    cases = 0
    for page in pages:
        text = open(page).read()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            if not os.path.exists(os.path.join(os.path.dirname(page), target)):
                problems.append(f"{os.path.relpath(page, repo)}: link to missing {target}")
        if os.path.dirname(page).endswith("docs"):
            for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
                try:
                    doc = yaml.safe_load(block)
                except yaml.YAMLError:
                    continue
                if not isinstance(doc, dict) or "grid" not in doc or "solver" not in doc or "plugins" in doc:
                    continue
                cases += 1
                with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                    f.write(block)
                    f.flush()
                    v = subprocess.run([simfuse, "config", "validate", f.name], capture_output=True, text=True, env=env)
                    if v.returncode != 0:
                        problems.append(f"{os.path.relpath(page, repo)}: a case that does not validate:\n{v.stderr}")
    print(f"{len(pages)} pages, {cases} example cases validated")
    for p in problems:
        print("FAIL " + p)
    if not problems:
        print("docs: OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
