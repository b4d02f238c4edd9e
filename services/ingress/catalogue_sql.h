/* catalogue_sql: the catalogue's loader (catalogue_loader): reads events and slots from
 * PostgreSQL over the ingress's yk_pg connection and hands their rows to the catalogue. */
#ifndef CATALOGUE_SQL_H
#define CATALOGUE_SQL_H

/* Sends both queries; 0, or -1 when they could not be queued. */
__attribute__((warn_unused_result)) int catalogue_sql_start(void);

#endif
