import { describe, expect, it } from 'vitest';
import { duplicateKeys } from '../../shared/hub/duplicateKeys.js';

describe('keys a JSON body names twice', () => {
  it.each([
    ['none', '{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}', []],
    ['at the top', '{"a":1,"a":2}', ['a']],
    ['nested, with their path', '{"metadata":{"name":"x","labels":{"app":"a","app":"b"}}}', ['metadata.labels.app']],
    ['in an array element', '{"spec":{"containers":[{"name":"a"},{"name":"b","image":"x","name":"c"}]}}', ['spec.containers[1].name']],
    ['escaped keys compared as decoded', '{"\\u0061":1,"a":2}', ['a']],
    ['quotes, braces and commas inside strings are text', '{"a":"}\\",{\\"a\\":","b":"[,","a":3}', ['a']],
    ['in arrays of arrays', '[[{"x":1,"x":2}]]', ['[0][0].x']],
    ['whitespace between tokens', ' { "a" : 1 ,\n "a" : [ 1 , 2 ] } ', ['a']],
  ])('%s', (_, text, expected) => {
    JSON.parse(text); // the scanner is only given what JSON.parse accepted
    expect(duplicateKeys(text)).toEqual(expected);
  });
});
