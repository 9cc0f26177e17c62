// The Jupyter widgets' HTML manager typesets math (HTMLMath widgets) through MathJax 2's
// API, MathJax.Hub.Queue; this site serves MathJax 3. Before the manager draws the
// widgets (on the window's load event, registered after this one), give MathJax 3 the
// one call the manager makes.
window.addEventListener("load", () => {
  const mj = window.MathJax;
  if (mj && mj.typesetPromise && !mj.Hub) {
    mj.Hub = {
      Queue: (command) => {
        const element = Array.isArray(command) ? command[2] : undefined;
        mj.startup.promise = mj.startup.promise
          .then(() => mj.typesetPromise(element ? [element] : undefined))
          .catch((err) => console.warn("MathJax could not typeset a widget:", err));
        return mj.startup.promise;
      },
    };
  }
});
