import { h } from 'preact';
import htm from 'htm';

/** JSX-like templates without a compiler. Text in `${…}` is always rendered as text, never HTML. */
export const html = htm.bind(h);
