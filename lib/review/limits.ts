/** Input limits shared by the API validation and the page. */
export const MAX_NAME = 80;
export const MAX_COMMENT = 4000;
export const MAX_BODY = 64 * 1024;
