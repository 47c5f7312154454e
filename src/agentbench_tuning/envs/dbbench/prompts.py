"""The DB Bench instruction turn: our own wording of the v0.2 rules, or the original read from a user's checkout.

Our text states the same rules and the exact action formats the v0.2 parser accepts. For evaluation runs
that must match AgentBench word for word, `import_agentbench_prompts` copies the original instruction out
of the user's own AgentBench v0.2 checkout (never shipped with this package):

    python -m agentbench_tuning.cli prompts import --agentbench ~/AgentBench --out prompts/
    python -m agentbench_tuning.cli eval dbbench ... --prompt-file prompts/dbbench_instruction.txt
"""

from __future__ import annotations

import ast
from pathlib import Path

INSTRUCTION = """
You will get a question and the description of a MySQL table. Work on the database with SQL to answer the question or to carry out the requested change.
Explain the problem and your plan first, thinking step by step. Then, in every round, either run one SQL statement or give your answer.
To run SQL, write exactly:
Action: Operation
```sql
SELECT * FROM table WHERE condition;
```
Put the SQL in a markdown sql block with nothing else inside it, on a single line. Only one statement runs per round, and only the first sql block of your message is executed. I will reply with the raw MySQL output of that statement.
When you are finished and ready to commit your answer, write exactly:
Action: Answer
Final Answer: ["ANSWER1", "ANSWER2", ...]
The final answer must be a list written on one line, and it must match the correct answer exactly, so only write it once you are sure.
If the task asks you to change the database (insert, update or delete rows), run the statements first; after that the content of your final answer does not matter.
A reply that follows neither format fails the task immediately.
"""

# Where v0.2 keeps the instruction: the module-level string `big_prompt` of the DB Bench task.
AGENTBENCH_PROMPT_PATH = Path("src/server/tasks/dbbench/__init__.py")
AGENTBENCH_PROMPT_NAME = "big_prompt"
IMPORTED_FILE = "dbbench_instruction.txt"


def load_instruction(prompt_file: str | Path | None = None) -> str:
    """Our instruction, or the text saved by `import_agentbench_prompts` (read verbatim)."""
    if prompt_file is None:
        return INSTRUCTION
    path = Path(prompt_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prompt file not found; create it with `abtune prompts import --agentbench DIR`")
    return path.read_text(encoding="utf-8")


def import_agentbench_prompts(agentbench_dir: str | Path, out_dir: str | Path) -> Path:
    """Copy v0.2's DB Bench instruction from a user's checkout into `out_dir`; returns the file written.

    The source is parsed (not imported or executed): the string assigned to `big_prompt`.
    """
    source = Path(agentbench_dir) / AGENTBENCH_PROMPT_PATH
    if not source.is_file():
        raise FileNotFoundError(f"{source}: not found; pass the root of an AgentBench checkout on its v0.2 branch "
                                "(git checkout v0.2)")
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == AGENTBENCH_PROMPT_NAME
                                                 for t in node.targets)):
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                raise ValueError(f"{source}:{node.lineno}: {AGENTBENCH_PROMPT_NAME} is not a plain string literal")
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            target = out / IMPORTED_FILE
            tmp = target.with_suffix(".tmp")
            tmp.write_text(node.value.value, encoding="utf-8")
            tmp.replace(target)
            return target
    raise ValueError(f"{source}: no `{AGENTBENCH_PROMPT_NAME} = \"\"\"...\"\"\"` found; is this the v0.2 branch?")
