// Our components use runes (Svelte 5); libraries in node_modules keep whatever mode they use.
/** @type {import("@sveltejs/vite-plugin-svelte").SvelteConfig} */
export default {
  vitePlugin: {
    dynamicCompileOptions({ filename }) {
      if (!filename.includes("/node_modules/")) return { runes: true };
    },
  },
};
