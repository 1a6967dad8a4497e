/**
 * The output of `nbtrack.compare()`: the live widget while its kernel holds the
 * model, the static HTML beside it otherwise.
 *
 * JupyterLab renders an output's richest mimetype, the widget view, and shows
 * "Error displaying widget: model not found" when the kernel that owned the
 * widget is gone (a saved notebook reopened). The comparison's bundle carries
 * `application/vnd.nbtrack.compare.v1+json`, which this renderer claims ahead of
 * the widget view: it shows the static table and chart at once, starts the
 * notebook's own widget renderer beside it, and swaps to the widget only once
 * that widget has actually rendered.
 *
 * It also releases the WebGL contexts of plots the widget removes (parallel
 * coordinates redraw on every metric change): Chromium keeps about 16 and
 * blanks the oldest beyond that.
 */
import { IRenderMime, IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Panel, Widget } from '@lumino/widgets';

export const COMPARE_MIME = 'application/vnd.nbtrack.compare.v1+json';
const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';
const BUSY = 'nbtrack-mod-busy';
/** The view counts as settled when its DOM has not changed for this long. */
const SETTLED_MS = 250;
/** A change the kernel never answers (it died) stops looking busy after this. */
const MAX_BUSY_MS = 30000;

/** Lose the WebGL context of every canvas in `node` (they are leaving the page). */
function releaseWebGL(node: Node): void {
  const canvases =
    node instanceof HTMLCanvasElement
      ? [node]
      : node instanceof Element
        ? Array.from(node.querySelectorAll('canvas'))
        : [];
  for (const canvas of canvases) {
    // getContext returns the existing context (or null for a 2d canvas asked for webgl).
    const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

class CompareRenderer extends Panel implements IRenderMime.IRenderer {
  constructor(
    private readonly options: IRenderMime.IRendererOptions,
    private readonly registry: IRenderMimeRegistry
  ) {
    super();
    this.addClass('nbtrack-CompareOutput');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    if (this._rendered) {
      return; // the widget re-renders itself; the fallback never changes
    }
    this._rendered = true;
    const html = model.data['text/html'];
    if (typeof html === 'string') {
      const fallback = this.registry.createRenderer('text/html');
      fallback.addClass('nbtrack-CompareStatic');
      await fallback.renderModel(
        new MimeModel({ data: { 'text/html': html }, trusted: model.trusted, metadata: model.metadata })
      );
      this._fallback = fallback;
      this.addWidget(fallback);
    }
    const factory = this.registry.getFactory(WIDGET_MIME);
    if (!factory || model.data[WIDGET_MIME] === undefined) {
      return;
    }
    const live = factory.createRenderer({ ...this.options, mimeType: WIDGET_MIME });
    live.addClass('nbtrack-CompareLive');
    live.hide();
    this.addWidget(live);
    // The widget renderer puts the widget's view in as a child once its model is found;
    // without the model it shows an error text instead, and never a child widget.
    const observer = new MutationObserver(records => {
      if (live.isHidden && (live as unknown as Partial<Panel>).widgets?.length) {
        this._showLive(live);
      }
      for (const record of records) {
        record.removedNodes.forEach(releaseWebGL);
      }
      if (this.hasClass(BUSY)) {
        // Busy until the redraws settle: no DOM change for a moment.
        window.clearTimeout(this._idleTimer);
        this._idleTimer = window.setTimeout(() => this.removeClass(BUSY), SETTLED_MS);
      }
    });
    // Show that a change is being worked on from the moment it is made (the kernel answers and
    // the charts redraw after): a control changed, or a button clicked, inside the view.
    const markBusy = (event: Event) => {
      const target = event.target as HTMLElement | null;
      if (event.type === 'click' && !target?.closest('button')) {
        return;
      }
      this.addClass(BUSY);
      window.clearTimeout(this._idleTimer);
      this._idleTimer = window.setTimeout(() => this.removeClass(BUSY), MAX_BUSY_MS);
    };
    live.node.addEventListener('change', markBusy, true);
    live.node.addEventListener('click', markBusy, true);
    observer.observe(live.node, { childList: true, subtree: true });
    this._observer = observer;
    await live.renderModel(model);
    if (live.isHidden && (live as unknown as Partial<Panel>).widgets?.length) {
      this._showLive(live);
    }
  }

  /** The widget rendered: it replaces the static view (disposed, so one table is in the page). */
  private _showLive(live: Widget): void {
    live.show();
    this._fallback?.dispose();
    this._fallback = null;
  }

  dispose(): void {
    this._observer?.disconnect();
    if (!this.isDisposed) {
      releaseWebGL(this.node);
    }
    super.dispose();
  }

  private _idleTimer = 0;
  private _rendered = false;
  private _fallback: Widget | null = null;
  private _observer: MutationObserver | null = null;
}

/**
 * Register the comparison renderer on a notebook's rendermime (each notebook has its
 * own, where the widget manager registers the widget view), ahead of the widget view.
 */
export function registerCompareRenderer(registry: IRenderMimeRegistry): void {
  // A notebook's registry is a clone of the app's and inherits its factory, whose closure holds
  // the app's registry (no widget manager there): replace it with one bound to this registry.
  registry.removeMimeType(COMPARE_MIME);
  registry.addFactory(
    {
      safe: false,
      mimeTypes: [COMPARE_MIME],
      createRenderer: options => new CompareRenderer(options, registry)
    },
    -20
  );
}
