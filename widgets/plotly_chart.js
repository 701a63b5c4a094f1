// A plotly chart whose whole figure is one synced trait: a page that connects after the
// figure was drawn (a preheated Voila kernel, a reload) shows it as it is. plotly.js is
// loaded once per page: from Voila's static files when served by `python -m widgets.serve`
// (cached by the browser), otherwise sent once by the kernel.
const LIBRARY = "__workbenchPlotly";

function fromSource(source) {
  const module = { exports: {} };
  new Function("module", "exports", source)(module, module.exports);
  return module.exports;
}

async function fromServer() {
  const base = document.body.dataset.baseUrl;
  if (!document.body.dataset.voila || !base) return null;
  try {
    const response = await fetch(`${base}static/plotly.min.js`);
    return response.ok ? fromSource(await response.text()) : null;
  } catch (error) {
    return null;
  }
}

function fromKernel(model) {
  return new Promise((resolve) => {
    const listener = (message) => {
      if (message && message.type === "plotly-library") {
        model.off("msg:custom", listener);
        resolve(fromSource(message.source));
      }
    };
    model.on("msg:custom", listener);
    model.send({ type: "plotly-library-request" });
  });
}

function plotly(model) {
  if (!window[LIBRARY]) {
    window[LIBRARY] = fromServer().then((library) => library || fromKernel(model));
  }
  return window[LIBRARY];
}

async function render({ model, el }) {
  const div = document.createElement("div");
  div.className = "wb-chart";
  div.style.width = "100%";
  el.appendChild(div);
  model.send({ type: "rendered" });  // a page shows this chart: the kernel may refresh
  const Plotly = await plotly(model);
  const draw = () => {
    const figure = model.get("figure") || {};
    const layout = figure.layout || {};
    div.style.minHeight = `${layout.height || 450}px`;  // its room, even drawn while hidden
    return Plotly.react(div, figure.data || [], layout,
                        { responsive: true, displaylogo: false });
  };
  // data-draws counts the drawings (tests and benchmarks wait for it to change)
  const counted = () => draw().then(() => {
    div.dataset.draws = String(Number(div.dataset.draws || 0) + 1);
  });
  await counted();
  div.on("plotly_click", (event) => {
    const points = event.points.map((point) => ({
      trace: point.curveNumber, index: point.pointIndex, customdata: point.customdata ?? null,
    }));
    model.send({ type: "click", points });
  });
  model.on("change:figure", counted);
  const resize = new ResizeObserver(() => {
    if (div.offsetWidth) Plotly.Plots.resize(div);
  });
  resize.observe(el);
  return () => {
    resize.disconnect();
    model.off("change:figure", counted);
    Plotly.purge(div);
  };
}

export default { render };
