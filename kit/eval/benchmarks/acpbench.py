"""ACPBench, multiple-choice part: 7 planning-reasoning tasks, 2-shot chain-of-thought, greedy.

Paper setup (lm-eval fork, tag `acp_mcq_cot_2shot`): the 7 MCQ tasks app, areach, just, land, prog, reach,
val, 40 development questions each (280; IBM's `dev.mcq.json` files, which are the Hub's `validation`
split). The paper's text says "all 10 tasks"; the code has these 7. One user message per question:

    **Question**: {shot context}  {shot question} **Thoughts**: {shot answer}\\n\\n
    **Question**: {shot context}  {shot question} **Thoughts**: {shot answer}\\n\\n
    **Question**: {context}  {question} **Thoughts**:

(two spaces between context and question, as the task template has them; the options are part of
`question`). The two shots per task are the kit's own short examples (two toy domains written for the kit),
in the same format as the task's shots; they are not IBM's. Stop strings as in the task: four newlines,
"**Question**:", "**Question:**", "Q:".

Columns: `paper` = the task's `multi_choice_regex` + `exact_match` as configured (effectively the last
capital A-D character anywhere in the answer, see `kit.eval.scoring.choice`); `fixed` = the kit's strict
letter extraction (an explicit "**Final Answer**: X" / "answer is X" / `\\boxed{X}` first) (primary).
Both are averaged per task and then over the tasks present, as the paper averaged its 7 task scores (the
tasks are the bootstrap strata); per-task columns `paper_<task>` / `fixed_<task>` are reported too.

Loading: `load` reads the 7 configs `acp_<task>_mcq` (split `validation`) one by one and tags each row
with its `task`; the shipped fixture carries no `task` column, so `items` falls back to the `group` column.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kit.errors import KitError
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import (Benchmark, Decode, HubSource, Item, fixture_rows, hub_rows,
                                      mean_of_task_means)
from kit.eval.scoring.choice import acp_paper_letter, acp_paper_match, strict_letter

TASKS = ("app", "areach", "just", "land", "prog", "reach", "val")
# `group` column value -> task; matched by substring so that "_mc" / "_mcq" suffixes do not matter.
GROUP_KEYS = (
    ("applicable_action", "app"),
    ("reachable_action", "areach"),
    ("justification", "just"),
    ("landmark", "land"),
    ("progression", "prog"),
    ("reachable_atom", "reach"),
    ("validation", "val"),
)
SPLIT = "validation"  # 40 per task = the paper's 280 dev questions; "test" has 130 (120 for areach)

GRIP = (
    "A robot with a left and a right gripper carries balls between rooms. The robot can move from one room "
    "to a different room, pick up a ball that is in its current room with a free gripper, and drop a ball "
    "it holds into its current room. There are 2 rooms and 2 balls. Currently, the robot is in room r1, the "
    "left gripper is free, the right gripper holds ball b2, and ball b1 is in room r2."
)
GRIP_GOAL = GRIP + " The goal is to reach a state where the following fact holds: ball b1 is in room r1."
BLOCKS = (
    "A robotic arm rearranges blocks on a table. The arm can pick up a clear block from the table, unstack "
    "a clear block from the block below it, put the block it holds down on the table, or stack the block it "
    "holds on a clear block. The arm holds at most one block. There are 3 blocks. Currently, b1 and b3 are "
    "on the table, b2 is on b1, b2 and b3 are clear, and the arm is empty."
)
BLOCKS_GOAL_B1_ON_B3 = BLOCKS + " The goal is to reach a state where the following fact holds: b1 is on b3."
BLOCKS_GOAL_B3_ON_B1 = BLOCKS + " The goal is to reach a state where the following fact holds: b3 is on b1."
STEP = "Let's think step by step."
VAL_OPTIONS = (
    "A. The sequence can be executed, but it does not reach the goal. B. The sequence is a plan for the goal. "
    "C. The sequence cannot be executed in the current state. D. The sequence only reaches the goal if its "
    "last action is skipped."
)

# (context, question, answer) per task; written for the kit.
SHOTS: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "app": (
        (
            GRIP,
            "Which of the following actions will be applicable in this state? A. drop ball b1 into room r1 "
            "from the left gripper. B. pick up ball b1 in room r2 with the left gripper. C. move the robot "
            "from room r1 to room r2. D. pick up ball b2 in room r1 with the right gripper.",
            f"{STEP} Step 1: Moving the robot from room r1 to room r2 only requires that the robot is in room "
            "r1. Step 2: The robot is in room r1, so this action is applicable; each other option needs a fact "
            "that does not hold (a held ball b1, the robot in room r2, or a free right gripper). "
            "**Final Answer**: C.",
        ),
        (
            BLOCKS,
            "Which of the following actions will be applicable in this state? A. stack b1 on b3. B. unstack "
            "b2 from b1. C. put down b3 on the table. D. pick up b1 from the table.",
            f"{STEP} Step 1: Unstacking b2 from b1 requires that b2 is on b1, b2 is clear and the arm is "
            "empty. Step 2: All of these facts hold in the current state, so the action is applicable. "
            "**Final Answer**: B.",
        ),
    ),
    "areach": (
        (
            BLOCKS,
            "Which of the following actions can eventually be applied? A. stack b3 on b3. B. unstack b2 from "
            "b2. C. unstack b1 from b3. D. stack b1 on b1.",
            f"{STEP} Step 1: A block can never be stacked on or unstacked from itself, so options A, B and D "
            "can never be applied. Step 2: Unstacking b2, putting it down, picking up b1 and stacking it on "
            "b3 puts b1 on b3, after which unstacking b1 from b3 is applicable. **Final Answer**: C.",
        ),
        (
            GRIP,
            "Which of the following actions can eventually be applied? A. move the robot from room b1 to "
            "room r2. B. pick up ball r2 in room r1 with the left gripper. C. move the robot from room r1 to "
            "room b2. D. drop ball b2 into room r2 from the right gripper.",
            f"{STEP} Step 1: Options A, B and C use a ball where a room is needed or a room where a ball is "
            "needed, so they can never be applied. Step 2: After moving from room r1 to room r2, the robot "
            "can drop ball b2 from its right gripper into room r2. **Final Answer**: D.",
        ),
    ),
    "just": (
        (
            BLOCKS_GOAL_B1_ON_B3,
            'Given the plan: "unstack b2 from b1, put down b2, pick up b3, put down b3, pick up b1, stack b1 '
            'on b3", which of the following pairs of consecutive actions can be removed from this plan and '
            "still have a valid plan? A. unstack b2 from b1 and put down b2. B. pick up b3 and put down b3. "
            "C. pick up b1 and stack b1 on b3. D. put down b2 and pick up b3.",
            f"{STEP} Step 1: Picking up b3 and putting it down again returns to the state before them, so "
            "without these two actions the remaining actions are still applicable and still reach the goal. "
            "Step 2: Removing any other pair makes a later action inapplicable or leaves the goal unreached. "
            "**Final Answer**: B.",
        ),
        (
            GRIP_GOAL,
            'Given the plan: "move the robot from room r1 to room r2, pick up ball b1 in room r2 with the '
            "left gripper, move the robot from room r2 to room r1, move the robot from room r1 to room r2, "
            'move the robot from room r2 to room r1, drop ball b1 into room r1 from the left gripper", which '
            "of the following pairs of consecutive actions can be removed from this plan and still have a "
            "valid plan? A. move the robot from room r1 to room r2 and pick up ball b1 in room r2 with the "
            "left gripper. B. pick up ball b1 in room r2 with the left gripper and move the robot from room "
            "r2 to room r1. C. move the robot from room r1 to room r2 and move the robot from room r2 to room "
            "r1. D. move the robot from room r2 to room r1 and drop ball b1 into room r1 from the left gripper.",
            f"{STEP} Step 1: The fourth and fifth actions move the robot from room r1 to room r2 and straight "
            "back, so without them the robot is still in room r1 holding ball b1 before the final drop. Step "
            "2: The remaining plan is applicable and reaches the goal. **Final Answer**: C.",
        ),
    ),
    "land": (
        (
            GRIP_GOAL,
            "Which of the following facts is a landmark (must hold at some point along any plan) for the "
            "current state? A. ball b2 is in room r2. B. the robot is in room r2. C. the left gripper holds "
            "ball b2. D. the right gripper is free.",
            f"{STEP} Step 1: Ball b1 is in room r2 and can only be picked up there, so every plan brings the "
            "robot to room r2. Step 2: The other facts can be avoided: the robot can carry b1 with its left "
            "gripper while still holding b2. **Final Answer**: B.",
        ),
        (
            BLOCKS_GOAL_B3_ON_B1,
            "Which of the following facts is a landmark (must hold at some point along any plan) for the "
            "current state? A. b1 is clear. B. b2 is on b3. C. the arm holds b1. D. b1 is on b2.",
            f"{STEP} Step 1: Stacking b3 on b1 requires b1 to be clear, and b1 is not clear now because b2 is "
            "on it. Step 2: So every plan passes through a state where b1 is clear, while the other facts can "
            "be avoided. **Final Answer**: A.",
        ),
    ),
    "prog": (
        (
            GRIP,
            'Which of the following facts will hold after performing the action "drop ball b2 into room r1 '
            'from the right gripper" in the current state? A. ball b2 is in room r1. B. the right gripper '
            "holds ball b2. C. the robot is in room r2. D. ball b1 is in room r1.",
            f"{STEP} Step 1: Dropping ball b2 makes ball b2 be in room r1 and frees the right gripper. Step 2: "
            "The robot stays in room r1 and ball b1 stays in room r2. **Final Answer**: A.",
        ),
        (
            BLOCKS,
            'Which of the following facts will hold after performing the action "unstack b2 from b1" in the '
            "current state? A. b2 is on b1. B. the arm is empty. C. b1 is clear. D. b3 is on b2.",
            f"{STEP} Step 1: Unstacking b2 from b1 makes the arm hold b2 and makes b1 clear. Step 2: b2 is no "
            "longer on b1 and the arm is no longer empty. **Final Answer**: C.",
        ),
    ),
    "reach": (
        (
            BLOCKS,
            "Which of the following facts is reachable from this state? A. b1 is on b1. B. b2 is on b2 and b2 "
            "is clear. C. b3 is on b1. D. b3 is on b3.",
            f"{STEP} Step 1: No block can ever be on itself, which rules out options A, B and D. Step 2: "
            "Unstacking b2 from b1, putting it down, picking up b3 and stacking it on b1 makes b3 be on b1. "
            "**Final Answer**: C.",
        ),
        (
            GRIP,
            "Which of the following facts is reachable from this state? A. ball b1 is in room r1. B. ball b1 "
            "is in room r1 and ball b1 is in room r2. C. the left gripper holds ball b1 and ball b1 is in room "
            "r2. D. the robot is in room r1 and the robot is in room r2.",
            f"{STEP} Step 1: A ball or the robot is in one place at a time, and a held ball is in no room, so "
            "options B, C and D can never hold. Step 2: Moving to room r2, picking up b1, moving back and "
            "dropping it makes ball b1 be in room r1. **Final Answer**: A.",
        ),
    ),
    "val": (
        (
            GRIP_GOAL,
            "Which of the following claims is true with regard to the following sequence of actions \"move the "
            "robot from room r1 to room r2, pick up ball b1 in room r2 with the left gripper, move the robot "
            'from room r2 to room r1, drop ball b1 into room r1 from the left gripper" in the current state? '
            + VAL_OPTIONS,
            f"{STEP} Step 1: Each action is applicable in turn: the robot reaches room r2, picks up b1 with its "
            "free left gripper, returns to room r1 and drops b1 there. Step 2: Ball b1 then is in room r1, so "
            "the sequence reaches the goal and is a plan. **Final Answer**: B.",
        ),
        (
            BLOCKS_GOAL_B1_ON_B3,
            'Which of the following claims is true with regard to the following sequence of actions "pick up '
            'b1 from the table, stack b1 on b3" in the current state? ' + VAL_OPTIONS,
            f"{STEP} Step 1: Picking up b1 requires b1 to be clear, but b2 is on b1. Step 2: The first action "
            "is not applicable, so the sequence cannot be executed. **Final Answer**: C.",
        ),
    ),
}


def question_text(context: str, question: str) -> str:
    """The task's `doc_to_text`: `**Question**: {context}  {question} **Thoughts**:`."""
    return f"**Question**: {context}  {question} **Thoughts**:"


def task_of(group: str) -> str:
    for key, task in GROUP_KEYS:
        if key in group:
            return task
    raise KitError(f"benchmark 'acpbench': unknown task group '{group}' (known keys: "
                   f"{', '.join(k for k, _ in GROUP_KEYS)})")


@register
class ACPBench(Benchmark):
    name = "acpbench"
    group = "other"
    full_size = 280
    paper_position = 7
    primary = "fixed"
    source = HubSource(
        path="ibm-research/acp_bench",
        name="acp_app_mcq",  # the first of the 7 configs; `load` reads all of them
        revision="05e5883d9afbcfa3bdc8f270cb345ef0b9526d4a",
        split=SPLIT,
        note="CDLA-Permissive-2.0. Configs acp_{app,areach,just,land,prog,reach,val}_mcq, split validation "
        "(40 each). Revision taken from public pins, not verified offline.",
    )
    decode = Decode(
        temperature=0.0, n_samples=1, max_new_tokens=32768,
        stop=("\n\n\n\n", "**Question**:", "**Question:**", "Q:"),
    )

    def load(self, use_fixtures: bool) -> list[dict[str, Any]]:
        if use_fixtures:
            return fixture_rows(self)
        rows: list[dict[str, Any]] = []
        for task in TASKS:
            src = dataclasses.replace(self.source, name=f"acp_{task}_mcq")
            rows += [{**r, "task": task} for r in hub_rows(self, src)]
        return rows

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        seen: set[str] = set()
        for i, row in enumerate(rows):
            task = row.get("task") or task_of(str(row.get("group", "")))
            if task not in TASKS:
                raise KitError(f"benchmark '{self.name}': row {i} has unknown task {task!r}")
            answer = str(row["answer"]).strip()
            if answer not in ("A", "B", "C", "D"):
                raise KitError(f"benchmark '{self.name}': row {i} has answer {answer!r}, expected A-D")
            iid = f"{task}/{row.get('id', i)}"
            if iid in seen:
                iid = f"{iid}#{i}"
            seen.add(iid)
            doc = {"task": task, "context": str(row["context"]), "question": str(row["question"]), "answer": answer}
            out.append(Item(id=iid, doc=doc))
        return out

    def prompt(self, item: Item, variant: str = "") -> str:
        shots = [question_text(c, q) + " " + a for c, q, a in SHOTS[item.doc["task"]]]
        return "\n\n".join(shots + [question_text(item.doc["context"], item.doc["question"])])

    uses_finished = True

    def score(self, item: Item, answer: str, output: str, variant: str = "",
              finished: bool = True) -> dict[str, float]:
        """An unfinished generation earns `fixed` only through an explicit answer marker (no lone-letter
        fallback); `paper` keeps the paper's filter either way."""
        task = {"_task": float(TASKS.index(item.doc["task"]))}
        if not answer or not answer.strip():
            return {"paper": 0.0, "fixed": 0.0, **task}
        gold = item.doc["answer"]
        return {
            "paper": float(acp_paper_match(acp_paper_letter(answer), gold)),
            "fixed": float(strict_letter(answer, fallback=finished) == gold),
            **task,
        }

    def stratum(self, item: Item) -> str | None:
        return item.doc["task"]

    def aggregate(self, item_scores: list[dict[str, float]]) -> dict[str, float]:
        """Mean over the tasks present of each task's mean; per-task columns `paper_<task>`, `fixed_<task>`."""
        return mean_of_task_means(item_scores, TASKS)
