"""Our Game of 24 prompts are raw completions of few-shot examples: a model that has answered
goes on to write the next example, with its own steps and labels. Every call stops where the
next example would begin; paper mode sends no stop sequence, as the reference."""

from __future__ import annotations

from pygent_jupyter.llm import Options
from pygent_jupyter.services.reasoning import asolve

from .scripted import ScriptedProvider, game24_oracle


class Rambling(ScriptedProvider):
    """The oracle, then an invented next example; stop sequences cut it as a server does."""

    async def generate(self, prompt: str, *, model=None, options: Options | None = None):  # type: ignore[no-untyped-def]
        completion = await super().generate(prompt, model=model, options=options)
        text = completion.text + "\n\nNumbers: 1 1\n1 + 1 = 2 (left: 2)\n1 1 cannot reach 24\nsure"
        for stop in (options or {}).get("stop") or []:
            text = text.split(stop)[0]
        completion.text = text
        return completion


async def test_our_calls_stop_before_an_invented_next_example() -> None:
    model = Rambling(game24_oracle())
    tree = await asolve("game24", "4 5 6 10", provider=model, n_select_sample=2)
    assert tree.solved
    kinds = [p.split("\n", 1)[0] for p, _ in model.calls]
    assert len(kinds) == len(model.calls) > 10
    for _prompt, options in model.calls:  # propose, value, answer and judge calls alike
        assert options["stop"] == ["\nNumbers:", "\nInput:"]
    impossible = [n for n in tree.nodes.values() if n.value is not None and n.value < 1]
    assert impossible  # the invented example's "sure" was not read as these states' label
    assert not any("(left: 2)" in (n.thought or "") for n in tree.nodes.values())


async def test_paper_mode_sends_no_stop_sequence() -> None:
    from .scripted import paper_game24_oracle

    model = ScriptedProvider(paper_game24_oracle())
    await asolve("game24", "4 5 6 10", provider=model, prompts="paper", n_select_sample=1)
    assert model.calls and all("stop" not in options for _, options in model.calls)
