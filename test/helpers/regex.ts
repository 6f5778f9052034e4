/** `s` with every regular-expression metacharacter escaped, to build a RegExp around a path or name. */
export const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
