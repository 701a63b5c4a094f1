"""The decision-tree wizard: four questions, a sentence of consequence for each answer, then
the recommended recipes and a button that runs them."""

from __future__ import annotations



import ipywidgets as w

from widgets.common import PanelStatus, escape, guarded
from workbench.advisor import QUESTIONS, consequence, recommend


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
        self.drop = w.FloatSlider(value=1.0, min=0.0, max=10.0, step=0.5,
                                  description="Max drop", readout_format=".1f")
        self.drop.observe(lambda _: self._update(), names="value")
        self.recommendation = w.HTML()
        self.run_button = w.Button(description="Run the recommended recipes",
                                   button_style="success", icon="play", disabled=True,
                                   layout=w.Layout(width="auto"))
        self.status = PanelStatus()
        self.run = guarded(self.status, "Starting the recommended recipes")(self.run)
        self.run_button.on_click(lambda _: self.run())
        self.steps.append(w.VBox([w.HTML("<b>How many accuracy points may it lose?</b>"),
                                  self.drop, self.recommendation, self.run_button,
                                  self.status]))
        super().__init__([w.HTML("<h3>Which technique?</h3>"), *self.steps])
        self._reveal()

    def _answered(self, key, change, explanation) -> None:
        explanation.value = (f"<i>{escape(consequence(key, change['new']))}</i>"
                             if change["new"] else "")
        self._reveal()
        self._update()

    def _reveal(self) -> None:
        """One step at a time: a question shows once every question before it is answered."""
        answered = [buttons.value is not None for buttons in self.answers.values()]
        for index, step in enumerate(self.steps):
            step.layout.display = None if all(answered[:index]) else "none"

    def advice(self):
        values = {key: buttons.value for key, buttons in self.answers.items()}
        if None in values.values():
            return None
        return recommend(values["data"], values["hardware"], values["priority"], self.drop.value)

    def _update(self) -> None:
        advice = self.advice()
        if advice is None:
            self.recommendation.value, self.run_button.disabled = "", True
            return
        items = "".join(f"<li><b>{name}</b>: {escape(reason)}</li>"
                        for name, reason in advice.reasons.items())
        warnings = "".join(f"<p style='color:#b71c1c'>{escape(text)}</p>"
                           for text in advice.warnings)
        self.recommendation.value = (f"<h4>Recommended</h4><ol>{items}</ol>{warnings}"
                                     f"<p>Judge them on: {', '.join(advice.devices)}</p>")
        self.run_button.disabled = not advice.recipes
        if advice.devices:
            self.state.device = advice.devices[0]

    def run(self):
        from workbench.recipes import make_config

        advice = self.advice()
        if advice is None or not advice.recipes:
            return None
        return self.state.run_recipes([make_config(name) for name in advice.recipes])
