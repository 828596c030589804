import pkg from '../package.json';

export const TOOL_NAME = 'inheritune-studio';
export const TOOL_VERSION: string = pkg.version;
