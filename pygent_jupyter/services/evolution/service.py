"""EvolutionService: server-side evolution of agent variants over the socket.

``start_evolution`` validates the request, records the run in SQLite, replies
``evolution_progress{phase: "started"}`` and runs the engine as a service task (it outlives
the request and the connection). Every event goes to all of the user's connections with
``reply_to`` the start message's id. After each generation the logbook row, the new
individuals and a checkpoint are written; at the end the result, and the best variants are
registered as agent types for that user (when the agents service is running).

Every finished evaluation is published (``phase: "evaluation"``) and saved as it arrives, so
``resume_evolution`` continues an interrupted run from its last checkpoint without redoing
them. With ``executor: "dask"`` (and ``c.EvolutionService.dask_scheduler`` set) the
evaluations run on a Dask cluster; the workers call the model server themselves.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode

from ...executors import DaskExecutor, ExecutorError, UnpicklableError, worker_provider
from ...llm import LLMProvider
from ...protocol import ErrorCode, PygentError
from ..runs import RunService
from ..seams import Publisher
from . import store
from .agent_eval import AgentVariantEvaluator
from .engine import Engine, EvolutionConfig
from .fitness import Evaluator
from .genomes import AgentGenome, AgentGenomeSpec
from .llm_ops import LLMPromptOperator
from .tasks import task_set_from_json

if TYPE_CHECKING:
    from ...hub import Request
    from ...protocol.types import (
        GetEvolutionRunData,
        ListEvolutionRunsData,
        ResumeEvolutionData,
        StartEvolutionData,
        StopEvolutionData,
    )

__all__ = ["DEFAULT_PROMPT_POOL", "DEFAULT_SEED_PROMPTS", "EvolutionService"]

#: seed system prompts when a request gives none
DEFAULT_SEED_PROMPTS = [
    "You are a helpful assistant.",
    "You are a careful assistant. Think before you answer.",
    "You are a precise problem solver.",
]
#: sentences that text mutation may insert when a request gives no ``prompt_pool``
DEFAULT_PROMPT_POOL = [
    "Think step by step.",
    "Reply with only the final answer.",
    "Check your answer before replying.",
    "Be concise.",
    "Follow the requested output format exactly.",
    "Start your reply with the answer.",
    "Answer with one word or one number.",
]


@dataclass
class _Run:
    run_id: str
    user: str
    engine: Engine
    few_shot: list[tuple[str, str]]
    register: int
    agent_name: str
    reply_to: str | None
    task: asyncio.Task[None] | None = None
    executor: Any = None
    key: str = ""  # the run's database key: store.run_key(user, run_id), unless saved earlier

    def __post_init__(self) -> None:
        self.key = self.key or store.run_key(self.user, self.run_id)


class EvolutionService(RunService[_Run]):
    """Genetic-algorithm runs over agent variants, streamed per generation."""

    name = "evolution"
    stop_command = "stop_evolution"

    max_runs_per_user = Int(2, help="Runs one user may have going at once.").tag(config=True)
    max_population = Int(64, help="Largest population_size a run may ask for.").tag(config=True)
    max_generations = Int(200, help="Most generations a run may ask for.").tag(config=True)
    max_tasks = Int(50, help="Most tasks in one run's task set.").tag(config=True)
    max_concurrency = Int(
        4, help="Most agent variants scored at once in one run (each calls the LLM)."
    ).tag(config=True)
    default_max_seconds = Float(
        1800.0, help="Wall-time budget of a run that sets none (seconds; 0: unlimited)."
    ).tag(config=True)
    checkpoint_runs = Bool(
        True, help="Write a resumable checkpoint into the database after every generation."
    ).tag(config=True)
    operator_model = Unicode(
        "", help="Model for LLM-driven prompt mutation/crossover; empty: the provider default."
    ).tag(config=True)
    dask_scheduler = Unicode(
        "",
        help="Address of a Dask scheduler (tcp://host:8786) where runs that ask for "
        "executor 'dask' evaluate their variants; empty: no cluster (such runs get "
        "'unavailable'). Workers need pygent-jupyter installed and reach the model server "
        "themselves (credentials from their own environment).",
    ).tag(config=True)
    default_executor = CaselessStrEnum(
        ["inprocess", "dask"],
        "inprocess",
        help="Where a run that names no executor evaluates: 'inprocess' (this server) or "
        "'dask' (the cluster at dask_scheduler).",
    ).tag(config=True)
    dask_connect_timeout = Float(
        10.0, help="Seconds to wait when connecting to the Dask scheduler."
    ).tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self._dask: DaskExecutor | None = None
        self._dask_lock: asyncio.Lock | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def commands(self) -> dict[str, Any]:
        return {
            "start_evolution": self.start_evolution,
            "stop_evolution": self.stop_evolution,
            "resume_evolution": self.resume_evolution,
            "list_evolution_runs": self.list_evolution_runs,
            "get_evolution_run": self.get_evolution_run,
        }

    async def start(self) -> None:
        db = self.db
        if db is None:
            return
        await asyncio.to_thread(db.migrate, "evolution", store.MIGRATIONS)
        interrupted = await db.run(store.mark_interrupted)
        if interrupted:
            self.log.info("pygent evolution: %d run(s) interrupted by a restart", interrupted)
        for variant in await db.run(store.load_variants):
            self._register_variant(
                variant["user"],
                variant["name"],
                AgentGenome.from_json(variant["genome"]),
                variant["few_shot"],
                variant["run_id"],
                variant["fitness"],
            )

    async def stop(self) -> None:
        await super().stop()
        dask, self._dask = self._dask, None
        if dask is not None:
            await dask.aclose()

    def health(self) -> dict[str, Any]:
        health = super().health()
        health["runs"] = len(self.runs)
        return health

    # -- helpers ----------------------------------------------------------------------------

    def fallback_model(self) -> LLMProvider:
        """Without the agents service there is no model to score variants with."""
        raise PygentError(
            ErrorCode.UNAVAILABLE,
            "no LLM backend is available to score agent variants (the agents service is not "
            "running); start Ollama or install the local model",
        )

    def _register_variant(
        self,
        user: str,
        name: str,
        genome: AgentGenome,
        few_shot: list[tuple[str, str]],
        run_id: str,
        fitness: float | None,
    ) -> bool:
        """Register ``genome`` as agent type ``name`` for ``user``; False without agents."""
        if self.agent_types is None:
            return False
        from .variants import variant_factory

        self.agent_types.register_agent_type(
            name, variant_factory(genome, few_shot, run_id=run_id, fitness=fitness), user=user
        )
        return True

    async def _run_provider(self, request: Request) -> LLMProvider:
        """The run's model: ``genome.backend`` from the model source (usage metered, the
        user's budget checked), or ``provider`` when set."""
        backend = (request.data.get("genome") or {}).get("backend")
        return await self.model_for(request.user, backend)

    def _build(
        self,
        request: Request,
        run_id: str,
        provider: LLMProvider,
        *,
        executor: Any = None,
        state: dict[str, Any] | None = None,
        journal: list[dict[str, Any]] | None = None,
        key: str = "",
    ) -> _Run:
        """A run from a ``start_evolution`` request; from ``state`` (a checkpoint, plus the
        ``journal`` of evaluations saved after it) when resuming."""
        data = request.data
        genome = data.get("genome") or {}
        population = int(data.get("population_size", 8))
        generations = int(data.get("generations", 5))
        if population > self.max_population:
            raise PygentError(
                ErrorCode.INVALID,
                f"population_size is limited to {self.max_population} on this server",
                field="population_size",
            )
        if generations > self.max_generations:
            raise PygentError(
                ErrorCode.INVALID,
                f"generations is limited to {self.max_generations} on this server",
                field="generations",
            )
        try:
            task_set = task_set_from_json(data.get("task_set"), max_tasks=self.max_tasks)
        except (ValueError, KeyError) as exc:
            raise PygentError(ErrorCode.INVALID, str(exc), field="task_set") from None
        ops = data.get("operators", {})
        fit = data.get("fitness", {})
        few_shot = [(shot["input"], shot["output"]) for shot in genome.get("few_shot", [])]
        few_shot = few_shot or list(task_set.examples)  # a built-in set's examples by default
        operator = None
        if ops.get("llm"):
            operator = LLMPromptOperator(
                provider, model=ops.get("llm_model") or self.operator_model or None
            )
        try:
            spec: AgentGenomeSpec = AgentGenomeSpec(
                seed_prompts=genome.get("seed_prompts") or DEFAULT_SEED_PROMPTS,
                models=genome.get("models") or [provider.default_model],
                prompt_pool=genome.get("prompt_pool", DEFAULT_PROMPT_POOL),
                temperature_range=tuple(genome.get("temperature_range", (0.0, 1.0))),
                top_p_range=tuple(genome.get("top_p_range", (0.5, 1.0))),
                few_shot_pool=few_shot,
                max_few_shot=int(genome.get("max_few_shot", 3)),
                tools=genome.get("tools", ()),
                gene_rate=float(genome.get("gene_rate", 0.3)),
                llm_operator=operator,
                llm_rate=float(ops.get("llm_rate", 1.0)),
                evolve=genome.get("evolve", ("system_prompt", "temperature", "top_p", "few_shot")),
            )
            for lo, hi in (spec.temperature_range, spec.top_p_range):
                if lo > hi:
                    raise ValueError("a range is [low, high] with low <= high")
            max_seconds = data.get("max_seconds") or self.default_max_seconds or None
            config = EvolutionConfig(
                population_size=population,
                generations=generations,
                elitism=min(int(ops.get("elitism", 1)), population - 1),
                selection=ops.get("selection", "tournament"),
                tournsize=int(ops.get("tournsize", 3)),
                rank_pressure=float(ops.get("rank_pressure", 1.5)),
                cxpb=float(ops.get("cxpb", 0.5)),
                mutpb=float(ops.get("mutpb", 0.5)),
                novelty_retries=int(ops.get("novelty_retries", EvolutionConfig.novelty_retries)),
                seed=data.get("seed"),
                hall_of_fame=int(ops.get("hall_of_fame", 5)),
                max_evaluations=data.get("max_evaluations"),
                max_tokens=data.get("max_tokens"),
                max_seconds=max_seconds,
                stagnation=data.get("stagnation"),
                target=data.get("target"),
                lexicographic=fit.get("cost") == "objective",
            )
            fitness_fn = AgentVariantEvaluator(
                provider,
                task_set,
                few_shot_pool=few_shot,
                cost=fit.get("cost", "none"),
                token_penalty=float(fit.get("token_penalty", 0.01)),
                max_answer_tokens=int(
                    fit.get("max_answer_tokens", task_set.max_answer_tokens or 256)
                ),
                seed=fit.get("seed", 0),
            )
        except ValueError as exc:
            raise PygentError(ErrorCode.INVALID, str(exc), field="genome") from None
        if executor is not None:  # workers build their own client from the backend's spec
            try:
                fitness_fn.provider = worker_provider(provider)
            except UnpicklableError as exc:
                raise PygentError(
                    ErrorCode.UNAVAILABLE,
                    f"the model backend {provider.name!r} cannot be used from Dask workers: {exc}",
                    field="executor",
                ) from None
        concurrency = min(int(data.get("concurrency", self.max_concurrency)), self.max_concurrency)
        evaluator = Evaluator(fitness_fn, concurrency=concurrency, executor=executor)
        if state is not None:
            try:
                engine = Engine.from_checkpoint(state, spec, evaluator, journal=journal or ())
            except (KeyError, TypeError, ValueError) as exc:
                raise PygentError(
                    ErrorCode.INVALID, f"the run's checkpoint cannot be used: {exc}"
                ) from None
        else:
            engine = Engine(spec, evaluator, config, run_id=run_id)
        run = _Run(
            run_id=run_id,
            user=request.user,
            engine=engine,
            few_shot=few_shot,
            register=int(data.get("register", 1)),
            agent_name=str(data.get("agent_name", "evolved")),
            reply_to=request.id,
            executor=executor,
            key=key,
        )
        run.engine.evaluation_events = True
        run.engine.on_evaluation = lambda entry: self._on_evaluation(run, entry)
        run.engine.add_listener(lambda t, d: self._on_event(run, t, d))
        if self.checkpoint_runs:
            run.engine.on_checkpoint = lambda state: self._on_checkpoint(run, state)
        return run

    # -- commands ---------------------------------------------------------------------------

    async def start_evolution(self, request: Request[StartEvolutionData]) -> None:
        run_id = request.data.get("run_id") or f"evo-{uuid.uuid4().hex[:12]}"
        if (request.user, run_id) in self.runs:  # run ids are per user: only yours conflict
            raise PygentError(
                ErrorCode.CONFLICT, f"your run {run_id!r} is already going", field="run_id"
            )
        self.check_capacity(request.user)
        executor = await self._executor_for(request.data)
        run = self._build(request, run_id, await self._run_provider(request), executor=executor)
        db = self.db
        if db is not None:
            config = {k: v for k, v in request.data.items() if k != "run_id"}
            try:
                await db.run(store.insert_run, run.key, request.user, config)
            except sqlite3.IntegrityError:
                raise PygentError(
                    ErrorCode.CONFLICT,
                    f"you have a run called {run_id!r} already",
                    field="run_id",
                ) from None
        self._launch(run)

    def _launch(self, run: _Run, **extra: Any) -> None:
        """Announce ``phase: "started"`` and drive the run as a service task."""
        self.track(run)
        engine = run.engine
        self._publish(
            run,
            "evolution_progress",
            {
                "run_id": run.run_id,
                "phase": "started",
                "generation": max(engine.generation, 0),
                "generations": engine.config.generations,
                "population_size": engine.config.population_size,
                "genome": engine.spec.describe(),
                "task_set": run.engine.evaluator.fn.task_set.describe(),  # type: ignore[attr-defined]
                "executor": run.executor.describe() if run.executor else {"kind": "inprocess"},
                **extra,
            },
        )
        run.task = self.drive(self._drive(run))

    async def _executor_for(self, data: Mapping[str, Any]) -> DaskExecutor | None:
        """The executor a request asks for (``executor``, else ``default_executor``); the
        Dask client is made once and reused. Raises ``unavailable`` without a cluster."""
        kind = str(data.get("executor") or self.default_executor).lower()
        if kind != "dask":
            return None
        if not self.dask_scheduler:
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                "no Dask cluster is configured on this server (set "
                "c.EvolutionService.dask_scheduler to a scheduler address)",
                field="executor",
            )
        if self._dask_lock is None:
            self._dask_lock = asyncio.Lock()
        async with self._dask_lock:
            dask = self._dask
            if dask is not None and getattr(dask.client, "status", "") != "running":
                self._dask = None
                await dask.aclose()
            if self._dask is None:
                try:
                    self._dask = await asyncio.to_thread(
                        DaskExecutor.connect,
                        self.dask_scheduler,
                        timeout=self.dask_connect_timeout,
                        key_prefix="pygent-evolution",
                    )
                except ExecutorError as exc:
                    raise PygentError(ErrorCode.UNAVAILABLE, str(exc), field="executor") from None
            return self._dask

    async def resume_evolution(self, request: Request[ResumeEvolutionData]) -> None:
        """Continue a saved run from its last checkpoint (and the evaluations after it)."""
        run_id = request.data["run_id"]
        if (request.user, run_id) in self.runs:
            raise PygentError(ErrorCode.CONFLICT, f"run {run_id!r} is going", field="run_id")
        saved = await self.require_db().run(store.get_run, request.user, run_id)
        if saved is None:
            raise PygentError(
                ErrorCode.NOT_FOUND, f"no evolution run {run_id!r} of yours", field="run_id"
            )
        if saved["status"] == "completed":
            raise PygentError(
                ErrorCode.CONFLICT, f"run {run_id!r} has completed; start a new one", field="run_id"
            )
        if saved["status"] == "running":
            raise PygentError(ErrorCode.CONFLICT, f"run {run_id!r} is going", field="run_id")
        if not saved["checkpoint"]:
            raise PygentError(
                ErrorCode.INVALID,
                f"run {run_id!r} has no checkpoint (it ended before its first generation); "
                "start it again",
                field="run_id",
            )
        self.check_capacity(request.user)
        config = dict(saved["config"])
        if request.data.get("executor"):
            config["executor"] = request.data["executor"]
        original = request.with_data(config)  # the saved start request, answered as this one
        executor = await self._executor_for(config)
        journal = await self.require_db().run(store.load_evaluations, saved["key"])
        run = self._build(
            original,
            run_id,
            await self._run_provider(original),
            executor=executor,
            state=saved["checkpoint"],
            journal=journal,
            key=saved["key"],
        )
        await self.require_db().run(store.reopen_run, run.key)
        self._launch(run, resumed=True, reused_evaluations=len(journal))

    async def stop_evolution(self, request: Request[StopEvolutionData]) -> None:
        run_id = request.data["run_id"]
        run = self.owned_run(run_id, request.user)
        run.engine.stop()
        request.reply(
            "evolution_progress",
            {"run_id": run_id, "phase": "stopping", "generation": max(run.engine.generation, 0)},
        )

    async def list_evolution_runs(self, request: Request[ListEvolutionRunsData]) -> None:
        runs = await self.require_db().run(
            store.list_runs, request.user, int(request.data.get("limit", 50))
        )
        request.reply("evolution_runs", {"runs": runs})

    async def get_evolution_run(self, request: Request[GetEvolutionRunData]) -> None:
        run_id = request.data["run_id"]
        run = await self.require_db().run(store.get_run, request.user, run_id)
        if run is None:
            raise PygentError(
                ErrorCode.NOT_FOUND, f"no evolution run {run_id!r} of yours", field="run_id"
            )
        for private in ("checkpoint", "user", "key"):
            run.pop(private, None)
        run["genealogy"] = {str(k): v for k, v in run["genealogy"].items()}
        request.reply("evolution_run", run)

    # -- the run ----------------------------------------------------------------------------

    def _publish(self, run: _Run, type_: str, data: dict[str, Any]) -> None:
        self.hub.publish(run.user, type_, data, reply_to=run.reply_to)

    async def _drive(self, run: _Run) -> None:
        try:
            await run.engine.run()
        except asyncio.CancelledError:
            await self._finish(
                run,
                "stopped",
                {"run_id": run.run_id, "status": "stopped", "reason": "server stopping"},
                publish=False,
            )
            raise
        except ExecutorError as exc:  # the cluster failed, not our code: say what happened
            self.log.warning("pygent evolution run %s: executor failed: %s", run.run_id, exc)
            data = {
                "run_id": run.run_id,
                "status": "failed",
                "reason": "executor",
                "message": f"{exc}; resume_evolution continues from the last checkpoint",
                "generations": max(run.engine.generation, 0),
            }
            await self._finish(run, "failed", data)
        except Exception:
            self.log.exception("pygent evolution run %s failed", run.run_id)
            data = {
                "run_id": run.run_id,
                "status": "failed",
                "reason": "error",
                "message": "the run failed; see the server log",
                "generations": max(run.engine.generation, 0),
            }
            await self._finish(run, "failed", data)
        finally:
            self.untrack(run)

    async def _finish(
        self, run: _Run, status: str, data: dict[str, Any], *, publish: bool = True
    ) -> None:
        db = self.db
        if db is not None:
            try:
                await db.run(store.finish_run, run.key, status, data)
            except Exception:
                self.log.exception("could not save evolution run %s", run.run_id)
        if publish:
            self._publish(run, "evolution_complete", data)

    async def _on_evaluation(self, run: _Run, entry: dict[str, Any]) -> None:
        """Save one finished evaluation as it arrives (until the next checkpoint)."""
        db = self.db
        if db is not None and self.checkpoint_runs:
            await db.run(store.save_evaluation, run.key, entry)

    async def _on_event(self, run: _Run, type_: str, data: dict[str, Any]) -> None:
        if type_ == "evolution_progress" and data.get("phase") == "evaluation":
            self._publish(run, type_, data)
            return
        if type_ == "evolution_progress":
            await self._save_generation(run, data)
            self._publish(run, type_, data)
            return
        if type_ == "evolution_complete":
            data["agent_types"] = await self._register_winners(run)
            await self._finish(run, data["status"], data)

    async def _save_generation(self, run: _Run, data: dict[str, Any]) -> None:
        db = self.db
        if db is None:
            return
        engine = run.engine
        generation = data["generation"]
        nodes = [
            (i, engine._node_json(node))
            for i, node in engine.genealogy.items()
            if node["generation"] == generation
        ]
        row = dict(engine.logbook[-1])
        await db.run(store.save_generation, run.key, row, nodes, None)

    async def _on_checkpoint(self, run: _Run, state: dict[str, Any]) -> None:
        db = self.db
        if db is None:
            return
        row = dict(run.engine.logbook[-1])
        await db.run(store.save_generation, run.key, row, [], state)

    async def _register_winners(self, run: _Run) -> list[str]:
        names: list[str] = []
        engine = run.engine
        short = run.run_id.removeprefix("evo-")[:12]
        for k, ind in enumerate(engine.hall[: run.register]):
            name = f"{run.agent_name}-{short}" + (f"-{k + 1}" if k else "")
            genome: AgentGenome = ind.genome
            if not self._register_variant(
                run.user, name, genome, run.few_shot, run.run_id, ind.fitness
            ):
                break
            names.append(name)
            db = self.db
            if db is not None:
                await db.run(
                    store.save_variant,
                    run.user,
                    name,
                    run.run_id,
                    genome.to_json(),
                    run.few_shot,
                    ind.fitness,
                )
        return names
