// `import ... from 'cronium'`: the same module as require('cronium'), with named exports.
import cronium from './index.js';

export const {
  input,
  output,
  getOutput,
  getVariable,
  getVariableInfo,
  getVariableEntry,
  setVariable,
  deleteVariable,
  listVariables,
  variable,
  watchVariable,
  setCondition,
  getCondition,
  getContext,
  getEventContext,
  event,
  refreshToken,
  streamInput,
  streamOutput,
  executeToolAction,
  sendSlackMessage,
  sendDiscordMessage,
  sendEmail,
  sync,
  Cronium,
  CroniumSync,
  CroniumVariable,
  CroniumError,
  errorCodes,
} = cronium;

export default cronium;
