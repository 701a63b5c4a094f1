"""The decision-tree wizard: four questions, a sentence of consequence for each answer, the
recommended recipes and a button that runs them; then it reads what was measured against the
target (accuracy points, the device's latency and memory) and says which variant meets it, or
what to run next, with a button for that. Or "Find it for me": the automatic search for the
device and the drop allowed, its trials drawn as they finish, Stop keeping what finished."""

from __future__ import annotations

import threading

import ipywidgets as w

from widgets.common import PanelStatus, escape, guarded
from widgets.plotly_chart import PlotlyChart
from workbench.advisor import QUESTIONS, assess, consequence, recommend

DEFAULT_MAX_DROP = 1.0
DEFAULT_TRIALS = 20


class WizardPanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.answers, self.explanations = {}, {}
        self.steps = []
        for key, (question, options) in QUESTIONS.items():
            buttons = w.ToggleButtons(options=list(options), value=None, description="")
            explanation = w.HTML()
            buttons.observe(lambda change, k=key, e=explanation: self._answered(k, change, e),
                            names="value")
            self.answers[key], self.explanations[key] = buttons, explanation
            self.steps.append(w.VBox([w.HTML(f"<b>{escape(question)}</b>"), buttons,
                                      explanation]))
        self.drop = w.BoundedFloatText(value=DEFAULT_MAX_DROP, min=0.0, max=100.0, step=0.1,
                                       description="Max drop", layout=w.Layout(width="14em"))
        self.drop_meaning = w.HTML()
        self.drop_unit = w.HTML("&nbsp;accuracy points")
        self.recommendation = w.HTML()
        self.status = PanelStatus()
        self.run_button = w.Button(description="Run the recommended recipes",
                                   button_style="success", disabled=True,
                                   layout=w.Layout(width="auto"))
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                        layout=w.Layout(width="24em", display="none"))
        self.phase = w.HTML()
        self.outcome = w.HTML()
        self.next_button = w.Button(button_style="primary",
                                    layout=w.Layout(width="auto", display="none"))
        self._next_recipes: list[tuple[str, dict]] = []
        self.search = SearchBox(state, self.drop)
        self.run = guarded(self.status, "Starting the recommended recipes")(self.run)
        self.run_next = guarded(self.status, "Starting the next step")(self.run_next)
        self.judge = guarded(self.status, "Reading the results")(self.judge)
        self.run_button.on_click(lambda _: self.run())
        self.next_button.on_click(lambda _: self.run_next())
        self.drop.observe(lambda _: self._update(), names="value")
        state.observe(lambda _: self._explain_drop(), names="task")
        state.observe(lambda _: self._rejudge(), names="device")
        self.steps.append(w.VBox([
            w.HTML("<b>How much of its score (accuracy, or the metric it is scored by) may it "
                   "lose?</b>"),
            w.HBox([self.drop, self.drop_unit]), self.drop_meaning,
            self.recommendation, self.run_button, self.status,
            w.HBox([self.progress, self.phase]), self.outcome, self.next_button,
            self.search]))
        super().__init__([w.HTML("<h3>Which technique?</h3>"), *self.steps])
        self.add_class("wb-wizard")
        self._reveal()
        self._explain_drop()

    def _answered(self, key, change, explanation) -> None:
        explanation.value = (f"<i>{escape(consequence(key, change['new']))}</i>"
                             if change["new"] else "")
        self._reveal()
        self._update()

    def _rejudge(self) -> None:
        """A verdict on screen follows the target: re-read it when an answer, the drop or the
        device changes, so it never judges against a target the user has since left."""
        if self.outcome.value:
            self.judge()

    def _reveal(self) -> None:
        """One step at a time: a question shows once every question before it is answered."""
        answered = [buttons.value is not None for buttons in self.answers.values()]
        for index, step in enumerate(self.steps):
            step.layout.display = None if all(answered[:index]) else "none"

    def _explain_drop(self) -> None:
        """The allowed drop in the task's metric: points of a fraction metric (top-1, AUC...),
        the metric's own units otherwise (MAE), with what it means for the float model."""
        task = self.state.task
        metric = task.metric if task is not None else None
        reference = task.float_score if metric is not None else None
        if metric is None or metric.fraction:
            name = "test accuracy" if metric is None or metric.name == "top1" else metric.name
            self.drop_unit.value = f"&nbsp;{escape(name)} points"
            example = (f" (the float model scores {100 * reference:.1f}%, so a variant must "
                       f"score at least {100 * reference - self.drop.value:.1f}%)"
                       if reference is not None else "")
            allowed = f"{self.drop.value:g} point(s) of {name}"
        else:
            direction = "higher" if metric.higher_is_better else "lower"
            self.drop_unit.value = f"&nbsp;{escape(metric.unit)} ({direction} is better)"
            sign = -1 if metric.higher_is_better else 1
            bound = reference + sign * self.drop.value
            example = (f" (the float model scores {reference:.4g}, so a variant must score at "
                       f"{'least' if sign < 0 else 'most'} {bound:.4g})")
            allowed = f"{self.drop.value:g} {metric.unit}"
        self.drop_meaning.value = (
            f"<i>A variant may lose at most {escape(allowed)} against the float "
            f"model{escape(example)}. After the run, the wizard checks each variant against "
            "this and against the device's latency and memory.</i>")

    def advice(self):
        values = {key: buttons.value for key, buttons in self.answers.items()}
        if None in values.values():
            return None
        return recommend(values["data"], values["hardware"], values["priority"], self.drop.value,
                         self.state.workspace)

    def _update(self) -> None:
        self._explain_drop()
        advice = self.advice()
        if advice is None:
            self.recommendation.value, self.run_button.disabled = "", True
            self.search.find_button.disabled = True
            return
        items = "".join(f"<li><b>{escape(name)}</b>: {escape(reason)}</li>"
                        for name, reason in advice.reasons.items())
        warnings = "".join(f"<p class='wb-bad'>{escape(text)}</p>" for text in advice.warnings)
        others = (f" (also of this kind: {escape(', '.join(advice.devices[1:]))}, in the "
                  "Latency menu)" if len(advice.devices) > 1 else "")
        self.recommendation.value = (f"<h4>Recommended</h4><ol>{items}</ol>{warnings}<p>Judged "
                                     f"on: {escape(advice.devices[0])}{others}</p>")
        self.run_button.disabled = not advice.recipes
        self.search.find_button.disabled = False
        if advice.devices and self.state.device != advice.devices[0]:
            self.state.device = advice.devices[0]  # re-judges through the device observer
        else:
            self._rejudge()

    def run(self):
        advice = self.advice()
        if advice is None or not advice.recipes:
            return None
        return self._start([(name, {}) for name in advice.recipes])

    def run_next(self):
        return self._start(self._next_recipes) if self._next_recipes else None

    def _start(self, recipes: list[tuple[str, dict]]):
        from workbench.recipes import make_config

        self.status.clear()
        self.outcome.value = ""
        self.next_button.layout.display = "none"
        job = self.state.run_recipes([make_config(name, options) for name, options in recipes])
        self.progress.layout.display = None
        job.add_listener(self._follow)
        self._follow(job)
        return job

    def _follow(self, job) -> None:
        """Progress on this tab; when the job ends, judge what it measured."""
        self.progress.value = job.overall_fraction
        self.phase.value = escape(f"{job.phase} ({job.done}/{job.total})" if job.active and
                                  job.total else job.phase if job.active else job.state)
        if job.state == "finished":
            self.judge()
        elif job.state == "error":
            self.status.error(job.error)

    def judge(self):
        """Read the loaded model's measured variants against the target on the chosen device."""
        values = {key: buttons.value for key, buttons in self.answers.items()}
        if None in values.values():
            return None
        rows = self.state.with_deltas(self.state.model_results())
        rows = rows.sort_values("created_at").drop_duplicates("recipe", keep="last") \
            if not rows.empty else rows
        assessment = assess(rows, self.state.device, self.drop.value, values["data"],
                            values["hardware"], values["priority"])
        verdicts = "".join(
            f"<li>{escape(v.recipe)}: " + (
                "<span class='wb-good'>meets it</span>" if v.meets else
                f"<span class='wb-bad'>{escape(', '.join(v.misses))}</span>") + "</li>"
            for v in assessment.verdicts)
        advice = (f"<p><b>Next:</b> {escape(assessment.next_reason)}</p>"
                  if assessment.next_reason else "")
        self.outcome.value = (f"<h4>What was measured</h4><p class='wb-verdict'>"
                              f"{escape(assessment.sentence)}</p><ul>{verdicts}</ul>{advice}")
        self._next_recipes = assessment.next_recipes
        if assessment.next_recipes:
            self.next_button.description = \
                f"Run the next step: {assessment.next_step_words()}"
            self.next_button.layout.display = None
        else:
            self.next_button.layout.display = "none"
        return assessment


class SearchBox(w.VBox):
    """"Find it for me": ``workbench.optimize`` for the chosen device within the wizard's Max
    drop, as a job; a chart of the trials as they finish (estimated latency per trial, the best
    so far), Stop (what finished is kept), then the choice and why, or the closest misses."""

    def __init__(self, state, drop: w.BoundedFloatText):
        self.state, self.drop = state, drop
        self.find_button = w.Button(description="Find it for me", button_style="info",
                                    disabled=True, layout=w.Layout(width="auto"),
                                    tooltip="Search recipes and their options for the device "
                                            "(Optuna; trials run on Dask workers)")
        self.trials = w.BoundedIntText(value=DEFAULT_TRIALS, min=1, max=500,
                                       description="Trials", layout=w.Layout(width="11em"))
        self.stop_button = w.Button(description="Stop", button_style="warning",
                                    layout=w.Layout(width="auto", display="none"),
                                    tooltip="Stop the search; finished trials are kept")
        self.status = PanelStatus()
        self.phase = w.HTML()
        self.chart = PlotlyChart(layout=w.Layout(width="100%", display="none"))
        self.outcome = w.HTML()
        self.heard: list[dict] = []
        self.job = None  # the last search started here
        self.device_searched = state.device
        self._stop = threading.Event()
        self.find = guarded(self.status, "Starting the search")(self.find)
        self.find_button.on_click(lambda _: self.find())
        self.stop_button.on_click(lambda _: self._stop.set())
        state.observe(lambda _: self.forget(), names=["device", "task"])
        drop.observe(lambda _: self.forget(), names="value")
        super().__init__([
            w.HTML("<b>Or let the workbench search</b>: every export the device runs, int8 "
                   "with its most sensitive layers kept, then pruning, clustering and QAT, "
                   "until a variant meets the drop and the device's memory and no faster one "
                   "turns up."),
            w.HBox([self.find_button, self.trials, self.stop_button]), self.status,
            self.phase, self.chart, self.outcome])
        self.add_class("wb-search")

    def find(self):
        self.status.clear()
        self.outcome.value = ""
        self.heard = []
        self._stop = threading.Event()
        self.device_searched = self.state.device
        job = self.job = self.state.start_search(self.drop.value, self.trials.value,
                                                 self._stop, self._heard)
        self.stop_button.layout.display = None
        job.add_listener(self._follow)
        self._follow(job)
        return job

    def forget(self) -> None:
        """Another device, drop or model: the answer on screen was for the old ones."""
        if self.job is not None and self.job.active:
            return
        self.outcome.value = ""
        self.status.clear()  # an error of the old search too
        self.chart.layout.display = "none"

    def _heard(self, row: dict) -> None:
        """A trial finished (the job's thread; a resumed search's earlier trials first)."""
        self.heard.append(row)
        self._draw([r for r in self.heard if not r.get("failure")])

    def _draw(self, rows) -> None:
        import pandas as pd

        from workbench.search.optimize import drop_unit
        from workbench.search.report import history_figure

        done = pd.DataFrame(rows)
        if done.empty:
            return
        figure = history_figure(done, self.device_searched, drop_unit(self.state.task))
        figure.update_layout(height=360, margin={"t": 40, "b": 40})
        self.chart.show(figure)
        self.chart.layout.display = None

    def _follow(self, job) -> None:
        if job.active:
            self.phase.value = escape(job.phase or "starting")
            return
        self.stop_button.layout.display = "none"
        self.phase.value = ""
        if job.state == "error":
            self.status.error(job.error)
        elif job.state == "cancelled":
            self.status.show(f"Cancelled after {len(self.heard)} trial(s); they are kept in "
                             "Results.", "warning")
        elif job.state == "finished":
            self._draw(job.result.trials.to_dict("records"))  # every trial of the study
            self.outcome.value = outcome_html(job.result)


def outcome_html(result) -> str:
    """The search's answer: the chosen variant and why, or the closest misses."""
    if result.choice is not None:
        return (f"<p class='wb-verdict'><b>Found: {escape(result.choice['variant'])}</b>. "
                f"{escape(result.reason)}</p>")
    closest = "".join(f"<li>{escape(row['variant'])}: {escape(row['misses'])}</li>"
                      for row in result.closest)
    return (f"<p class='wb-verdict wb-bad'>{escape(result.reason)}</p>"
            + (f"<p>Closest:</p><ul>{closest}</ul>" if closest else ""))
